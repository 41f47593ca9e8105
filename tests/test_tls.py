"""`http.tls`: the config keys, the file checks of --check-config, and HTTPS really served."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from bridge import config as config_mod
from bridge.__main__ import main
from bridge.tls import TlsConfig, server_context
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed pair made by scripts/make-cert (as scripts/demo makes it)."""
    folder = tmp_path_factory.mktemp("tls")
    out = subprocess.run(
        [str(ROOT / "scripts" / "make-cert"), str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == str(folder / "cert.pem")
    return folder


def write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_tls_keys_are_read(raw_config: dict[str, Any]) -> None:
    """`http.tls: {cert, key}` becomes a TlsConfig; absent, the bridge speaks plain HTTP."""
    assert config_mod.parse(raw_config, env={}).http.tls is None
    raw_config["http"]["tls"] = {"cert": "/etc/c.pem", "key": "/etc/k.pem"}
    assert config_mod.parse(raw_config, env={}).http.tls == TlsConfig("/etc/c.pem", "/etc/k.pem")


@pytest.mark.parametrize(
    ("tls", "problem"),
    [
        ({"cert": "/etc/c.pem"}, "http.tls.key: must be the path of a PEM file"),
        ({"cert": "c", "key": "k", "ca": "x"}, "http.tls.ca: unknown key"),
        ("yes", "http.tls: must be a mapping"),
    ],
)
def test_tls_problems_by_path(raw_config: dict[str, Any], tls: Any, problem: str) -> None:
    """A malformed `http.tls` is reported by its dotted path."""
    raw_config["http"]["tls"] = tls
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.parse(raw_config, env={})
    assert problem in err.value.problems


def test_check_config_reports_unreadable_and_unusable_files(
    tmp_path: Path,
    raw_config: dict[str, Any],
    cert_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--check-config: a missing key file, a certificate that is not PEM, and a good pair."""
    raw_config["http"]["tls"] = {
        "cert": str(cert_dir / "cert.pem"),
        "key": str(tmp_path / "missing.pem"),
    }
    assert main(["--config", str(write(tmp_path, raw_config)), "--check-config"]) == 1
    assert f"http.tls.key: cannot read {tmp_path / 'missing.pem'}" in capsys.readouterr().err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    raw_config["http"]["tls"] = {"cert": str(garbage), "key": str(cert_dir / "key.pem")}
    assert main(["--config", str(write(tmp_path, raw_config)), "--check-config"]) == 1
    assert "not a usable certificate and key" in capsys.readouterr().err
    raw_config["http"]["tls"] = {
        "cert": str(cert_dir / "cert.pem"),
        "key": str(cert_dir / "key.pem"),
    }
    assert main(["--config", str(write(tmp_path, raw_config)), "--check-config"]) == 0


async def test_https_is_served_with_the_context(cert_dir: Path) -> None:
    """A site with server_context answers HTTPS to a client that trusts the certificate,
    and a client that does not trust it fails the handshake."""
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"scheme": request.scheme})

    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    tls = TlsConfig(str(cert_dir / "cert.pem"), str(cert_dir / "key.pem"))
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(tls))
    await site.start()
    port = runner.addresses[0][1]
    trusting = ssl.create_default_context(cafile=tls.cert)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/", ssl=trusting) as resp:
                assert await resp.json() == {"scheme": "https"}
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(f"https://127.0.0.1:{port}/")
    finally:
        await runner.cleanup()
