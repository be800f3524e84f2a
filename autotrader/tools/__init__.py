"""Tools: plain functions over the venue and the database, wrapped for the agents in agents/."""
