"""docker-compose.yml parses, and every file, build context and image version it names is real."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_references_existing_files():
    services = compose()["services"]
    for name, spec in services.items():
        build = spec.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"


def test_every_service_package_has_a_compose_entry_and_cli():
    services = compose()["services"]
    for package in (ROOT / "services").iterdir():
        if (package / "app.py").is_file():
            assert package.name in services, package.name
            assert (package / "__main__.py").is_file()


def test_compose_kafka_image_matches_the_tests_broker_version():
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1)
    images = {spec["image"] for spec in compose()["services"].values() if "image" in spec}
    assert f"apache/kafka:{version}" in images
    dockerfile = (ROOT / "deploy" / "docker" / "service.Dockerfile").read_text()
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        if copied != "--from":
            assert (ROOT / copied).exists(), copied


def test_topics_script_creates_every_published_topic():
    from shared.contracts import disbursement, eligibility, notifications, registry  # noqa: F401 - registers them
    from shared.events import registered_events

    script = (ROOT / "deploy" / "docker" / "create-topics.sh").read_text().replace(";", " ").split()
    topics = {cls.topic for cls in registered_events().values()}
    assert len(topics) >= 8
    for topic in topics:
        assert topic in script, topic


def test_compose_never_falls_back_to_development_secrets():
    from shared.config import DEV_JWT_SECRET, DEV_PII_KEY

    text = (ROOT / "docker-compose.yml").read_text()
    assert DEV_JWT_SECRET not in text and DEV_PII_KEY not in text
    env = compose()["x-service"]["environment"]
    assert env["ENVIRONMENT"] == "production" and env["PII_KEY"].startswith("${PII_KEY:?")
