"""The README's two set-up commands and .ci/run agree; the package layout is as documented."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = readme_commands()[:2]
    assert len(commands) == 2
    install_and_demo, tests = commands
    assert install_and_demo.startswith("pip install torch==2.14.1 torchvision==0.29.1") and "benco demo" in install_and_demo
    assert "torch==2.14.1 torchvision==0.29.1 &&" in tests.split("&&")[0] + "&&" and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci


def test_top_level_packages_exist():
    for package in ("imdl_sigma", "registry", "downstream", "benchmarks"):
        assert (ROOT / package / "__init__.py").is_file()


def readme_layout() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    return section.split("```\n", 2)[1].splitlines()


def test_every_file_and_folder_the_readme_layout_names_exists():
    named = []
    for line in readme_layout():
        folder, _, caption = line.partition(" ")
        named.append(folder)
        if folder.endswith("/"):
            named += [folder + word for word in re.findall(r"[\w/]+\.(?:py|md)\b|\b[a-z_0-9]+/", caption)]
    missing = [path for path in named if not (ROOT / path).exists()]
    assert len(named) > 40 and not missing
