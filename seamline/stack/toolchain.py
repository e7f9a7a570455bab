"""The JDK and Maven the Java services need: checked once, with the fix when missing."""

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from seamline.stack.errors import StackError

MIN_JAVA = 17


@cache
def java() -> str:
    """Path of a `java` of version 17 or newer."""
    path = shutil.which("java")
    if path is None:
        raise StackError(
            f"Java not found: install a JDK {MIN_JAVA}+ "
            "(e.g. `apt-get install openjdk-17-jdk-headless`) and put `java` on PATH"
        )
    banner = subprocess.run([path, "-version"], check=False, capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', banner)
    if match is None or int(match.group(1)) < MIN_JAVA:
        raise StackError(
            f"Java {MIN_JAVA}+ required, found {banner.splitlines()[0] if banner else path}: "
            f"install a newer JDK (e.g. `apt-get install openjdk-17-jdk-headless`)"
        )
    return path


def maven_fetch(pom: Path, goal: str, output_dir: Path, what: str) -> None:
    """Run a maven-dependency-plugin goal of pom into output_dir (cached in ~/.m2)."""
    java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"Maven not found, needed to download {what}: install it (`apt-get install maven`)")
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            f"dependency:{goal}",
            f"-DoutputDirectory={output_dir}",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(
            f"downloading {what} from Maven Central failed ({_maven_cause(result.stdout)}): check access to "
            "repo.maven.apache.org (proxy, ~/.m2/settings.xml) and rerun `seamline stack up`"
        )


def _maven_cause(output: str) -> str:
    """The gist of Maven's first error, without the goal and project it names."""
    for line in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines():
        if line.startswith("[ERROR]") and line[7:].strip():
            return re.sub(r"^.*? on project [^:]+: ", "", line[7:].strip())[:240]
    return "mvn failed without an error message"
