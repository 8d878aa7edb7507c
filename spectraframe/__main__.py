import sys

from spectraframe.cli import main

sys.exit(main())
