"""The HLS stream proxy (`/m3u8-proxy`): playlists rewritten, everything else streamed."""
