"""Build hook: the wheel also carries the demo (app.py) and its pinned requirements, so that an installed
``textcnn space`` can write a Space without a checkout. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SPACE_TEMPLATE = ("app.py", "requirements.txt")  # copied to textcnn/space_template/ in the wheel


class BuildPyWithSpaceTemplate(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the checkout itself
            return
        target = Path(self.build_lib) / "textcnn" / "space_template"
        target.mkdir(parents=True, exist_ok=True)
        for name in SPACE_TEMPLATE:
            self.copy_file(name, str(target / name))


setup(cmdclass={"build_py": BuildPyWithSpaceTemplate})
