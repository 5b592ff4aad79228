"""Quality beside speed: LLM perplexity / KL divergence runs and answer-quality scoring, driven from the app."""
