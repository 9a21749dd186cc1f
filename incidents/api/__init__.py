"""REST endpoints of the incidents app, one module per family: ``incidents`` (with the
nomenclature), ``journal``, ``radio``, ``units``, ``alerts``. Views translate HTTP only: they
parse the input, call a service or a selector, and serialize; the services decide the rights
(``permission_classes`` gate the roles first, before a body is read or an id looked up)."""
