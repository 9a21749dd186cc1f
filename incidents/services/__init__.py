"""Every write of the incidents app, one module per family: ``incidents`` (open, change, share),
``journal`` (the main courante), ``radio``, ``units`` (field units and their positions),
``alerts`` (Croix-Rouge). Each service takes the acting ``member``, checks its rights, and
publishes its events through the outbox; ``common`` holds what several families refuse alike."""
