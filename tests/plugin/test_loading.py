"""The plugin loads with pytest, starts nothing unasked, and says what is missing."""

from __future__ import annotations

import pytest

from tests.plugin.support import SESSION_TIMEOUT, server_logs

pytest_plugins = ["pytester"]


def test_a_session_that_uses_no_fixture_starts_and_imports_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_plain(request):
            assert request.config.pluginmanager.has_plugin("echo_model")
            assert "echo_model.testing.server" not in sys.modules
            assert "echo_model.serving" not in sys.modules
            # Nor the model: LangChain alone costs a second per session.
            assert "echo_model.chat_models" not in sys.modules
            assert "langchain_core" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", timeout=SESSION_TIMEOUT
    )
    result.assert_outcomes(passed=1)
    assert server_logs(pytester) == []
    assert not list(pytester.path.glob("runpytest-*/echo_server*"))


def test_dash_p_no_echo_model_turns_the_plugin_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fixture="""
        def test_fixture(echo_server):
            pass
        """,
        test_marker="""
        import pytest

        @pytest.mark.echo(n=1)
        def test_marker():
            pass
        """,
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:echo_model",
        "--strict-markers",
        "--continue-on-collection-errors",
        timeout=SESSION_TIMEOUT,
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*'echo' not found in `markers`*", "*fixture 'echo_server' not found*"],
        consecutive=False,
    )


def test_client_fixtures_skip_naming_the_package_to_install(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import sys

        # As if neither integration were installed: their imports fail.
        sys.modules["langchain_openai"] = None
        sys.modules["langchain_anthropic"] = None
        """
    )
    pytester.makepyfile(
        test_missing="""
        def test_openai(echo_chat_openai):
            pass

        def test_anthropic(echo_chat_anthropic):
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rs", timeout=SESSION_TIMEOUT
    )
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED*echo_chat_openai needs langchain-openai:"
            " pip install langchain-openai*",
            "SKIPPED*echo_chat_anthropic needs langchain-anthropic:"
            " pip install langchain-anthropic*",
        ],
        consecutive=False,
    )
    assert server_logs(pytester) == []  # skipped before any server started
