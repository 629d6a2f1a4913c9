import sys

from textcnn.cli import main

sys.exit(main())
