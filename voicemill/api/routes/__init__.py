"""One module per resource: speech (OpenAI), synthesize (native), voices, jobs, health."""
