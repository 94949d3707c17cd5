"""tmem inside agent frameworks, each an optional extra (see ``docs/integrations.md``).

- :mod:`tmem.integrations.langgraph`: ``TmemStore``, a LangGraph ``BaseStore`` whose items are
  tmem memories (``pip install 'tmem[langgraph]'``).
- :mod:`tmem.integrations.agent_framework`: ``TmemContextProvider``, a Microsoft Agent Framework
  context provider that recalls before each run and remembers after it
  (``pip install 'tmem[agent-framework]'``).

Nothing here is imported by ``import tmem``; each module imports its framework when it is
imported itself, and says which extra to install when the framework is missing.
:mod:`tmem.integrations.keyvalue` is the framework-free part of the LangGraph mapping.
"""
