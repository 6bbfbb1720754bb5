"""Collections: a user's named lists of anime, written synchronously."""
