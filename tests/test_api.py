"""API traps of issue #15 left after test_traps.py: no function hides a module of the same name, the parameter map
to each paper's symbols, a catalogue listing that fits a terminal, one table per CSV."""
import importlib
import pkgutil
import subprocess
import sys
import types

import lawfit


# ---- functions and modules never share a name ------------------------------------------------------------------
def test_no_function_hides_a_module():
    clashes = [m.name for m in pkgutil.iter_modules(lawfit.__path__)
               if hasattr(lawfit, m.name) and not isinstance(getattr(lawfit, m.name), types.ModuleType)]
    assert clashes == []


def test_extrapolation_module_and_functions():
    m = importlib.import_module("lawfit.extrapolation")
    assert lawfit.extrapolation is m
    assert callable(lawfit.extrapolate) and lawfit.extrapolate is m.extrapolate
    assert lawfit.decide is m.decide and lawfit.should_stop is m.should_stop
    assert lawfit.chain_predict is m.chain_predict and "chain_predict" in lawfit.__all__
    assert lawfit.extrapolation.Extrapolation.__module__ == "lawfit.extrapolation"
    import lawfit.extrapolation as alias

    assert alias is m


def test_fitting_module_and_function():
    m = importlib.import_module("lawfit.fitting")
    assert lawfit.fitting is m and lawfit.fit is m.fit and callable(lawfit.fit)
    assert callable(lawfit.fitting.bad_rows)
    import lawfit.fitting as alias

    assert alias is m


def test_every_import_path_gives_the_same_object():
    # A fresh interpreter, so that the order of imports is the user's: the submodule imported first, then the package.
    code = ("import lawfit.extrapolation as e, lawfit.fitting as f, lawfit, types;"
            "assert isinstance(e, types.ModuleType) and isinstance(f, types.ModuleType);"
            "assert lawfit.extrapolate is e.extrapolate and lawfit.fit is f.fit;"
            "from lawfit import extrapolation, fitting; assert extrapolation is e and fitting is f")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_catalogue_module_and_function():
    m = importlib.import_module("lawfit.catalogue")
    assert lawfit.catalogue is m and lawfit.laws is m.laws and lawfit.get_law is m.get_law
    assert lawfit.laws().index.name == "name"
