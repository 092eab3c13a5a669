"""pydantic-ai: a code-execution tool.

    from pydantic_ai import Agent
    from stockade.integrations.pydantic_ai import python_tool

    agent = Agent("openai:gpt-4o", tools=[python_tool(policy="strict")])

Each call runs the model's code in a fresh jail (or, with ``session=True``, in one session per
tool, so state persists); the tool returns text the model reads.
"""
from typing import Any, Dict, Optional

from pydantic_ai import Tool

import stockade

from ._common import describe


def python_tool(policy: Any = None, *, timeout: Optional[float] = None, session: bool = False,
                functions: Optional[Dict[str, Any]] = None, name: str = "run_python") -> Tool:
    """A pydantic-ai ``Tool`` that runs Python in stockade."""
    state: Dict[str, Any] = {}

    def run_python(code: str) -> str:
        """Run Python code in an isolated sandbox (no network, no host files, limited time and
        memory). Its value is the variable `result` if set, else its last expression; print()
        output is returned too.

        Args:
            code: the Python source to run.
        """
        if session:
            if "session" not in state:
                state["session"] = stockade.Session(policy=policy)
            r = state["session"].run(code, timeout=timeout, functions=functions)
        else:
            r = stockade.run(code, policy=policy, timeout=timeout, functions=functions)
        return describe(r)

    return Tool(run_python, name=name, takes_ctx=False)
