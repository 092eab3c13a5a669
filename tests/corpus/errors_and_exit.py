# Exceptions, tracebacks, warnings, and exit status: code that fails must fail the same way.
import sys, traceback, warnings

try:
    {}["missing"]
except KeyError as e:
    print("caught", repr(e))
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as w:
    warnings.warn("careful", UserWarning)
    print("warned", w[0].message)
try:
    1 / 0
except ZeroDivisionError:
    print(traceback.format_exc().strip().splitlines()[-1])
print("done")
sys.exit(3)
