from pycadvisor.cli import main

raise SystemExit(main())
