// tests/workloads/test_optim.cpp (placeholder until its module lands)
#include <doctest/doctest.h>
