"""Allow `python -m tui` as well as the `storyboard` script."""

from tui.cli import main

raise SystemExit(main())
