"""LangChain's standard unit tests for chat models, run against EchoChatModel."""

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests
from syrupy.assertion import SnapshotAssertion

from echo_model import EchoChatModel
from tests.standard_config import EchoStandardConfig


class TestEchoChatModelUnit(EchoStandardConfig, ChatModelUnitTests):
    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        return ({"ECHO_API_KEY": "env-key"}, {}, {"api_key": "env-key"})

    @pytest.mark.xfail(
        strict=True,
        raises=ValueError,
        reason=(
            "langchain-tests 1.1.9 loads with allowed_objects='all', which since "
            "langchain-core 1.3 admits only classes in langchain-core's own mapping, "
            "so no third-party class can pass; the serialized snapshot is still "
            "checked first. The round trip with our class allowed by name is "
            "tested in test_serialization.py."
        ),
    )
    def test_serdes(self, model: EchoChatModel, snapshot: SnapshotAssertion) -> None:
        super().test_serdes(model, snapshot)
