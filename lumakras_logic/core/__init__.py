"""The core: kb text and the kb, requests, the engine, the policy model, explanations, rendering and the
Decider API. It never imports a ring (authoring, analysis) or the command line."""
