from anime_devstack.cli import main

raise SystemExit(main())
