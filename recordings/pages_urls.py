from django.urls import path

from recordings import keys, views

urlpatterns = [
    path("requisitions/", views.requisitions, name="requisitions"),
    path("registre/", views.register, name="recording-register-page"),
    # The centre's public signing key (docs/recordings.md): no sign-in, a public key is no secret.
    path(".well-known/csu-export-key", keys.export_key_page, name="export-key"),
    path(".well-known/csu-export-key.pem", keys.export_key_pem, name="export-key-pem"),
    path(".well-known/csu-export-key.json", keys.export_key_json, name="export-key-json"),
]
