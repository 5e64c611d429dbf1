from recorder.app.cli import main

raise SystemExit(main())
