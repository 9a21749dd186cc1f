"""GeoJSON built by PostgreSQL itself: one query returns the whole FeatureCollection as text.

Serialising thousands of features in Python costs far more than letting
PostGIS write them (see benchmarks/coverage.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection


def feature_collection(features_sql: str, params: Sequence | Mapping = ()) -> str:
    """Wrap a query that yields one ``feature`` json column per row into a FeatureCollection.

    ``features_sql`` must select a single column named ``feature`` and may end
    with ORDER BY; the order is kept.
    """
    sql = (
        "SELECT json_build_object('type', 'FeatureCollection', 'features', "
        "coalesce(json_agg(f.feature), '[]'::json))::text FROM (" + features_sql + ") AS f"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (text,) = cursor.fetchone()
    return text
