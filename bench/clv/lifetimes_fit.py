"""The peer: Python `lifetimes` 0.11.3 fitting BG/NBD and Gamma-Gamma to the same summary
CSV. Prints the parameters and the seconds the fits took (reading the file excluded)."""
import json
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

data = pd.read_csv(sys.argv[1])
started = time.perf_counter()
bg = BetaGeoFitter()
bg.fit(data["frequency"], data["recency"], data["T"])
repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
gg = GammaGammaFitter()
gg.fit(repeat["frequency"], repeat["monetary_value"])
seconds = time.perf_counter() - started
p = bg.params_
g = gg.params_
print(json.dumps({
    "customers": len(data),
    "bgnbd": {"r": p["r"], "alpha": p["alpha"], "a": p["a"], "b": p["b"]},
    "gamma_gamma": {"p": g["p"], "q": g["q"], "gamma": g["v"]},
    "seconds": seconds,
}))
