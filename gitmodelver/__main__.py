from gitmodelver.cli import main

raise SystemExit(main())
