// data/csv.hpp through lepton::csv: the header finds csv.h and the program links libcsv.
#include <cstdio>

#include <lepton/data/csv.hpp>

int main()
{
    const auto table = lepton::data::parse_csv("x,label\n1.5,\"a, b\"\n2,c\n", "inline.csv");
    const auto x = table.numbers<float>({"x"});
    const bool ok = table.rows() == 2 && x(1, 0) == 2.0f && table.cell(0, 1) == "a, b";
    std::printf("csv consumer: %s\n", ok ? "ok" : "wrong table");
    return ok ? 0 : 1;
}
