"""The agent graph: Planner -> Trader -> Judge on the OpenAI Agents SDK (imported as `agents`)."""
