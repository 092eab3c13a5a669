# Dates, time zones, formatting, text processing.
import datetime as dt, textwrap, zoneinfo, calendar, unicodedata

d = dt.datetime(2024, 3, 10, 12, 30, tzinfo=dt.timezone.utc)
print(d.isoformat(), (d + dt.timedelta(days=45)).strftime("%A %d %B %Y"))
print(d.astimezone(zoneinfo.ZoneInfo("America/New_York")).isoformat())
print(calendar.monthrange(2024, 2), dt.date(2024, 12, 31).isocalendar())
print(textwrap.fill("stockade runs untrusted python inside a jail built by the kernel " * 2, width=40))
print(unicodedata.name("☃"), "{:>8.3f}|{:<6}|{:^7}".format(3.14159, "ab", "mid"))
