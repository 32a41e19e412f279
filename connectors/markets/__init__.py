"""GPU marketplaces with their own public APIs: Vast.ai, Golem, io.net, Clore."""
