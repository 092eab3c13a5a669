"""LangChain: a tool that runs Python in stockade.

    from stockade.integrations.langchain import StockadePythonTool
    tool = StockadePythonTool(policy="strict")            # a fresh jail per call
    tool = StockadePythonTool(policy="strict", session=True)   # state kept between calls
    tool.invoke({"code": "sum(range(10))"})

The tool's answer is text a model reads (stdout, the value or the traceback, what the sandbox
refused); the whole result is in the tool message's artifact.
"""
from typing import Any, Dict, Optional, Tuple, Type

from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field, PrivateAttr

import stockade

from ._common import describe


class _Args(BaseModel):
    code: str = Field(description="Python source to run. Its value is the variable `result` if set, else its last expression; print() output is returned too.")


class StockadePythonTool(BaseTool):
    """Run Python code in an isolated stockade sandbox."""

    name: str = "python"
    description: str = (
        "Run Python code in an isolated sandbox (no network, no host files, limited time and memory) "
        "and return its output and value."
    )
    args_schema: Type[BaseModel] = _Args
    response_format: str = "content_and_artifact"
    policy: Any = None
    timeout: Optional[float] = None
    session: bool = False
    functions: Optional[Dict[str, Any]] = None
    _session: Any = PrivateAttr(default=None)

    def _run(self, code: str, run_manager: Any = None) -> Tuple[str, Dict[str, Any]]:
        if self.session:
            if self._session is None:
                self._session = stockade.Session(policy=self.policy)
            r = self._session.run(code, timeout=self.timeout, functions=self.functions)
        else:
            r = stockade.run(code, policy=self.policy, timeout=self.timeout, functions=self.functions)
        return describe(r), r.raw

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
