// LIBMF's training call as its mf-train command line makes it, timed alone.
//
// mf-train reads text files and then calls mf_train_with_validation with
// its default parameters (k=8, 20 iterations, AdaGrad with eta 0.1, L2 0.1,
// copy_data off). This program does the same on binary arrays written by
// time_to_accuracy.py, so that the seconds it prints are the training call
// alone, without parsing text:
//
//   libmf_time curve TRAIN TEST ITERS THREADS [K]   per-iteration va_rmse (LIBMF's own output)
//   libmf_time time  TRAIN TEST ITERS THREADS [K]   seconds of mf_train, then the test RMSE
//
// K (default LIBMF's 8) is mf-train's -k; every other parameter is LIBMF's default.
//
// TRAIN and TEST are prefixes of three raw files each: .u (int32 rows),
// .v (int32 columns), .r (float32 ratings). Built against LIBMF's mf.o by
// time_to_accuracy.py: g++ -O3 -march=native -fopenmp -DUSESSE -DUSEOMP.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mf.h"

using namespace mf;

static std::vector<char> slurp(const std::string &path)
{
    FILE *f = std::fopen(path.c_str(), "rb");
    if(!f) { std::perror(path.c_str()); std::exit(1); }
    std::fseek(f, 0, SEEK_END);
    long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    std::vector<char> buf(size);
    if(size > 0 && std::fread(buf.data(), 1, size, f) != (size_t)size) { std::perror(path.c_str()); std::exit(1); }
    std::fclose(f);
    return buf;
}

// The problem as mf-train's read_problem builds it: m and n are one past
// the largest index seen.
static mf_problem load(const std::string &prefix, std::vector<mf_node> &nodes)
{
    std::vector<char> u = slurp(prefix + ".u"), v = slurp(prefix + ".v"), r = slurp(prefix + ".r");
    size_t n = u.size() / 4;
    nodes.resize(n);
    mf_problem prob = {};
    for(size_t i = 0; i < n; ++i)
    {
        int32_t a, b;
        float x;
        std::memcpy(&a, u.data() + 4 * i, 4);
        std::memcpy(&b, v.data() + 4 * i, 4);
        std::memcpy(&x, r.data() + 4 * i, 4);
        nodes[i].u = a;
        nodes[i].v = b;
        nodes[i].r = x;
        if(a + 1 > prob.m) prob.m = a + 1;
        if(b + 1 > prob.n) prob.n = b + 1;
    }
    prob.nnz = (mf_long)n;
    prob.R = nodes.data();
    return prob;
}

int main(int argc, char **argv)
{
    if(argc != 6 && argc != 7)
    {
        std::fprintf(stderr, "usage: libmf_time curve|time TRAIN TEST ITERS THREADS [K]\n");
        return 2;
    }
    std::string mode = argv[1];
    std::vector<mf_node> tr_nodes, va_nodes;
    mf_problem tr = load(argv[2], tr_nodes), va = load(argv[3], va_nodes);

    mf_parameter param = mf_get_default_param();
    param.nr_iters = std::atoi(argv[4]);
    param.nr_threads = std::atoi(argv[5]);
    if(argc == 7)
        param.k = std::atoi(argv[6]);
    param.nr_bins = param.nr_bins > 2 * param.nr_threads + 1 ? param.nr_bins : 2 * param.nr_threads + 1;
    param.copy_data = false;  // as mf-train
    param.quiet = mode == "time";

    auto start = std::chrono::steady_clock::now();
    mf_model *model = mode == "curve" ? mf_train_with_validation(&tr, &va, param) : mf_train(&tr, param);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if(mode == "time")
    {
        // mf_predict as mf-predict uses it (no clipping); a row or column
        // past the training problem's size gets LIBMF's average rating.
        double sse = 0.0;
        for(mf_long i = 0; i < va.nnz; ++i)
        {
            double e = va.R[i].r - mf_predict(model, va.R[i].u, va.R[i].v);
            sse += e * e;
        }
        std::printf("seconds %.6f\nrmse %.6f\n", seconds, std::sqrt(sse / (double)va.nnz));
    }
    mf_destroy_model(&model);
    return 0;
}
