"""The research loop: experiments, their measured outcomes, and posteriors over strategies."""
