// distributed/mpi.hpp through lepton::mpi: the header finds mpi.h and the program links MPI.
// Built, not run (running needs mpirun); the MPI tests run data-parallel training.
#include <cstdio>

#include <lepton/distributed/mpi.hpp>

int main(int argc, char** argv)
{
    lepton::distributed::mpi::environment mpi(argc, argv);
    lepton::distributed::mpi::group world;
    std::printf("mpi consumer: rank %d of %d\n", world.rank(), world.size());
    return 0;
}
