"""smolagents: a ``CodeAgent`` executor that runs each code action in a stockade session.

    from smolagents import CodeAgent
    from stockade.integrations.smolagents import StockadeExecutor

    agent = CodeAgent(tools=[search], model=model, executor=StockadeExecutor(policy="strict"))

The agent's tools are host functions (their code runs in this process, with its credentials;
the model's code calls them across the boundary), ``final_answer`` ends a step as it does in
smolagents' own executor, and variables persist between steps (one session per executor).
An exception in the code reaches the agent as smolagents' ``InterpreterError``, which it shows
the model.
"""
from typing import Any, Dict, Optional

from smolagents.local_python_executor import CodeOutput, InterpreterError, PythonExecutor

import stockade

from ._common import describe

# Defined once in the session: `final_answer` hands the answer to the host, then stops the step.
_SETUP = '''
class FinalAnswerReached(BaseException):
    """The step called final_answer()."""

def final_answer(answer=None, *args, **kwargs):
    _stockade_final_answer(answer)
    raise FinalAnswerReached()
'''


class StockadeExecutor(PythonExecutor):
    """Runs code actions in a stockade session (its own jail, state kept between steps)."""

    def __init__(self, policy: Any = None, *, timeout: Optional[float] = None, **session_kwargs: Any):
        self.session = stockade.Session(policy=policy, **session_kwargs)
        self.timeout = timeout
        self.tools: Dict[str, Any] = {}
        self._final: list = []
        self.state: Dict[str, Any] = {}
        r = self.session.run(_SETUP, functions={"_stockade_final_answer": self._final.append})
        if not r.ok:
            raise stockade.StockadeError(f"could not prepare the session: {r.error}")

    def send_tools(self, tools: Dict[str, Any]) -> None:
        self.tools = {name: tool for name, tool in tools.items() if name != "final_answer"}

    def send_variables(self, variables: Dict[str, Any]) -> None:
        if variables:
            r = self.session.run("pass", inputs=dict(variables))
            if not r.ok:
                raise InterpreterError(f"variables could not be sent to the sandbox: {r.error}")

    def __call__(self, code_action: str) -> CodeOutput:
        self._final.clear()
        functions: Dict[str, Any] = dict(self.tools)
        functions["_stockade_final_answer"] = self._answer
        r = self.session.run(code_action, functions=functions, timeout=self.timeout)
        logs = r.stdout
        self.state["_print_outputs"] = logs
        if self._final:
            return CodeOutput(output=self._final[-1], logs=logs, is_final_answer=True)
        if not r.ok:
            raise InterpreterError(describe(r))
        return CodeOutput(output=r.value, logs=logs, is_final_answer=False)

    def _answer(self, answer: Any = None) -> None:
        self._final.append(answer)

    def cleanup(self) -> None:
        self.session.close()

    def __del__(self) -> None:
        try:
            self.session.close()
        except Exception:
            pass
