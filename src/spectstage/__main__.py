from spectstage.cli import main

raise SystemExit(main())
