"""Adapters for agent frameworks (each an optional extra of the package):

- :mod:`stockade.integrations.smolagents` — ``StockadeExecutor``, a ``CodeAgent`` executor
  (``pip install stockade[smolagents]``);
- :mod:`stockade.integrations.langchain` — ``StockadePythonTool``, a LangChain tool
  (``pip install stockade[langchain]``);
- :mod:`stockade.integrations.pydantic_ai` — ``python_tool()``, a pydantic-ai tool
  (``pip install stockade[pydantic-ai]``).
- :mod:`stockade.integrations.monty` — ``MontySession``, pydantic-monty's host API
  (``feed_run``, ``feed_start`` and its snapshots) over a stockade session.

Each runs the model's code in a stockade jail; tools an agent gives the code are host
functions (they run here, not in the jail). See docs/integrations.md.
"""
