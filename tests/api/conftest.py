"""Fixtures of the API tests: a fake AMI port that records what the routes send."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.ami.message import AmiMessage
from bridge.domain.tracker import CallTracker
from bridge.errors import AmiActionFailed
from tests.conftest import Api, FakePort


class FakePbx(FakePort):
    """Records the actions the route sends (the real Asterisk path is in tests/system)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: str | None = None
        self.channels: list[dict[str, str]] = []

    async def send(
        self,
        action: Any,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AmiMessage:
        if self.fail:
            raise AmiActionFailed(action["Action"], self.fail)
        self.sent.append(action)
        return AmiMessage({"Response": "Success", "Message": "Originate successfully queued"})

    async def send_list(
        self,
        action: Any,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[AmiMessage]:
        assert action == {"Action": "CoreShowChannels"}
        return [AmiMessage(c) for c in self.channels]


class ReactingPbx(FakePbx):
    """A FakePbx that, after answering an action, feeds the API's call tracker the events
    Asterisk would send for it (`react`)."""

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api

    async def send(
        self,
        action: Any,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AmiMessage:
        answer = await super().send(action, timeout)
        self.react(action, self.api.services.nodes.first.tracker)
        return answer

    def react(self, action: Any, tracker: CallTracker) -> None:
        raise NotImplementedError


@pytest.fixture
def pbx(api: Api) -> FakePbx:
    """A FakePbx plugged into the API's services."""
    fake = FakePbx()
    api.plug(fake)
    return fake
