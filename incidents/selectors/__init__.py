"""Every non-trivial read of the incidents app, one module per family (``incidents``, ``journal``,
``radio``, ``units``, ``alerts``): who may see what (the one rule that REST, pages, the event
stream's replay and the services call), who hears which event, and the lists with their filters
parsed from the query string."""
