"""Registry of readers by source id, with a description of each source."""

from collections.abc import Callable

from ccni_pipeline.sources import ceads, city_panel, power, targets, yearbook
from ccni_pipeline.sources.base import ReadResult, SourceFile

Reader = Callable[[SourceFile], ReadResult]

READERS: dict[str, Reader] = {
    "ceads_city_co2": ceads.read_ceads_city_co2,
    "edgar_city_co2": city_panel.read_edgar_city_co2,
    "city_gdp_industry": city_panel.read_city_gdp_industry,
    "city_real_gdp": city_panel.read_city_real_gdp,
    "city_population": city_panel.read_city_population,
    "pilot_cities_92": city_panel.read_pilot_cities_92,
    "pilot_cities_135": city_panel.read_pilot_cities_135,
    "province_power_generation": power.read_province_power_generation,
    "net_zero_tracker": targets.read_net_zero_tracker,
    **{
        source_id: yearbook.read_yearbook
        for source_id in yearbook.yearbook_source_ids()
    },
}

DESCRIPTIONS: dict[str, str] = {
    "ceads_city_co2": "CEADs CO2 inventory of 290 Chinese cities, 1997-2019, Mt CO2.",
    "edgar_city_co2": "EDGAR v8.0-based CO2 of 295 cities, 2000-2023, read as Mt CO2.",
    "city_gdp_industry": (
        "City nominal GDP and value added by sector, 2000-2023, 100m yuan."
    ),
    "city_real_gdp": "City real GDP at 2000 prices and GDP deflators, 2000-2023.",
    "city_population": "Resident population of 298 cities, 1998-2024, 10k persons.",
    "pilot_cities_92": (
        "City-level low-carbon pilots of the 2010, 2012 and 2017 batches."
    ),
    "pilot_cities_135": (
        "Low-carbon pilot list with provincial pilots expanded to all their cities "
        "(read for cross-checking, not scored)."
    ),
    "province_power_generation": (
        "Provincial electricity generation by source, December year-to-date totals."
    ),
    "net_zero_tracker": (
        "Net Zero Tracker targets of Chinese cities (UN/LOCODE actors)."
    ),
    **{
        source_id: (
            f"China City Statistical Yearbook {yearbook.volume_year(source_id)}, "
            f"prefecture tables (data year {yearbook.volume_year(source_id) - 1}): "
            "electricity, buses, budget expenditure, GDP and population, by scope."
        )
        for source_id in yearbook.yearbook_source_ids()
    },
}
