"""Build hook: ships config/asterisk/extensions_uapi.conf inside the package as bridge/data/."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DIALPLAN = Path("config", "asterisk", "extensions_uapi.conf")


class BuildPyWithDialplan(build_py):
    """build_py, plus the Asterisk dialplan snippet the bridge's calls rely on."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib, "bridge", "data", DIALPLAN.name)
        self.mkpath(str(target.parent))
        self.copy_file(str(DIALPLAN), str(target))


setup(cmdclass={"build_py": BuildPyWithDialplan})
