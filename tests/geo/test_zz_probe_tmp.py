import pytest
from django.db import connection

@pytest.mark.django_db
def test_probe(demo_communes):
    with connection.cursor() as c:
        c.execute("""SELECT count(*) FILTER (WHERE ST_Overlaps(a.boundary,b.boundary)), max(ST_Area(ST_Transform(ST_Intersection(a.boundary, b.boundary), 2154))), count(*)
            FROM geo_commune a JOIN geo_commune b ON a.insee_code < b.insee_code AND ST_Intersects(a.boundary, b.boundary)""")
        print(c.fetchall())
        c.execute("SELECT ST_Area(ST_Transform(ST_Union(boundary), 2154)) FROM geo_commune")
        print(c.fetchall())
