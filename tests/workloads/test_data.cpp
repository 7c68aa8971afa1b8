// tests/workloads/test_data.cpp (placeholder until its module lands)
#include <doctest/doctest.h>
