#pragma once
/// \file
/// Batch normalisation, `torch.nn.BatchNorm2d` / `BatchNorm1d` semantics:
/// per channel, training normalises with the batch mean and biased variance and
/// updates running statistics as running = (1 - momentum) * running + momentum *
/// batch (the variance unbiased); evaluation normalises with the running
/// statistics. Learnable weight (gamma, starts at 1) and bias (beta, starts at 0).
/// With its weight and bias frozen in a network it normalises with the running
/// statistics and keeps them in training mode too, as Keras does;
/// `Network::set_frozen_batchnorm(frozen_batchnorm::batch_statistics)` gives
/// PyTorch's rule instead (see `frozen_batchnorm`).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/real.hpp"
#include "../kernels/elementwise.hpp"
#include "../distributed/process_group.hpp"
#include "../kernels/parallel.hpp"
#include "layer.hpp"

namespace lepton {

template <class Where, class Got, std::size_t Rank>
struct batchnorm_input_rank_must_be {
    static constexpr bool value = is_invalid_shape<Got> || Got::rank == Rank;
};

/// What `BatchNorm2D / BatchNorm1D` binds to; it meets the layer interface described in layers/layer.hpp.
template <class T, class Backend, class In, std::size_t Index, std::size_t Rank, real Momentum, real Eps,
          bool Sync = false>
class batchnorm_layer : public detail::layer_base<T, In, In> {
    static_assert(batchnorm_input_rank_must_be<layer_index<Index>, In, Rank>::value,
                  "Lepton wiring error: BatchNorm2D needs an input [channels, height, width], BatchNorm1D [features]");
    using base = typename batchnorm_layer::layer_base;
    static constexpr std::size_t channels = In::dims[0];
    static constexpr std::size_t plane = In::size / channels;  // 1 for BatchNorm1D

public:
    using typename base::input_type;
    using typename base::output_type;
    /// Name shown in summaries and error messages.
    static constexpr const char* kind = Sync ? "SyncBatchNorm" : Rank == 3 ? "BatchNorm2D" : "BatchNorm1D";
    /// Number of learnable parameters.
    static constexpr std::size_t parameter_count = 2 * channels;
    /// Running mean and variance, kept in the network's buffer storage (model
    /// state, shared by every workspace, not per call).
    static constexpr std::size_t buffer_count = 2 * channels;
    /// `num_batches_tracked`, in the network's counter storage.
    static constexpr std::size_t counter_count = 1;

    batchnorm_layer() : mean_(channels), inv_std_(channels) {}

    /// Points the layer at its running statistics and counter in the network's storage.
    void bind_buffers(T* values, std::int64_t* counters) noexcept
    {
        running_mean_ = values;
        running_var_ = values + channels;
        batches_tracked_ = counters;
    }

    /// Points the layer at its slices of the network's parameter and gradient buffers.
    void bind(T* params, T* grads) noexcept
    {
        gamma_ = params;
        beta_ = params + channels;
        dgamma_ = grads;
        dbeta_ = grads + channels;
    }
    /// Initialises the parameters.
    void initialize(random_engine&)
    {
        std::fill(gamma_, gamma_ + channels, T(1));
        std::fill(beta_, beta_ + channels, T(0));
        std::fill(running_mean_, running_mean_ + channels, T(0));
        std::fill(running_var_, running_var_ + channels, T(1));
        *batches_tracked_ = 0;
    }
    /// Calls `f(name, data, grad, shape)` for each parameter tensor.
    template <class F>
    void for_each_parameter(F&& f)
    {
        f("weight", gamma_, dgamma_, parameter_shape{channels});
        f("bias", beta_, dbeta_, parameter_shape{channels});
    }

    /// Calls `f(name, values, shape)` for each buffer (state that is not
    /// learned but belongs in a checkpoint), with PyTorch's names and types.
    template <class F>
    void for_each_buffer(F&& f)
    {
        f("running_mean", std::span<T>(running_mean_, channels), parameter_shape{channels});
        f("running_var", std::span<T>(running_var_, channels), parameter_shape{channels});
        f("num_batches_tracked", std::span<std::int64_t>(batches_tracked_, 1), parameter_shape{});
    }

    /// Training-mode forward passes so far (PyTorch's `num_batches_tracked`).
    std::int64_t num_batches_tracked() const noexcept { return *batches_tracked_; }

    /// Running mean (PyTorch buffer `running_mean`), writable.
    std::span<T> running_mean() noexcept { return {running_mean_, channels}; }
    /// Running mean of a const layer, read-only (a const network's statistics stay as they are).
    std::span<const T> running_mean() const noexcept { return {running_mean_, channels}; }
    /// Running variance (PyTorch buffer `running_var`), writable.
    std::span<T> running_var() noexcept { return {running_var_, channels}; }
    /// Running variance of a const layer, read-only.
    std::span<const T> running_var() const noexcept { return {running_var_, channels}; }

    /// Called by the network when a ReLU follows: the layer then applies it to
    /// its own output and masks the incoming gradient with it, which saves the
    /// ReLU's pass over memory each way (the ReLU passes both on).
    void fuse_relu(bool on) noexcept { relu_ = on; }
    /// With `fuse_relu`, backward also applies the ReLU's gradient.
    static constexpr bool fuses_relu_gradient = true;

    /// Forward pass on a batch; returns the layer's own output buffer. A
    /// synchronised layer in training mode, in a network with a process group
    /// of several ranks, normalises with the statistics of the global batch.
    const output_type& forward(const input_type& x, context& ctx) { return normalize(x, ctx, nullptr, relu_); }

    /// As `forward`, then + `addend` (shaped like the output) and, with `relu`, max(0, .), in the normalising
    /// pass: a residual block's sum and the ReLU after it cost no pass over memory of their own. The output
    /// buffer then holds that sum; backward is unchanged (the gradient it gets is already past the sum's ReLU).
    const output_type& forward(const input_type& x, context& ctx, const output_type& addend, bool relu)
    {
        return normalize(x, ctx, addend.data(), relu);
    }

    /// Backward pass: accumulates parameter gradients and, when `input_grad` is set, returns dL/dx.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        if (relu_)
            return backward_masked(x, dy, input_grad, [](auto g, auto y) { return simd::select(y > decltype(y)(0), g, decltype(g)(0)); });
        return backward_masked(x, dy, input_grad, [](auto g, auto) { return g; });
    }

private:
    /// Both forward passes: the statistics, then the normalising pass with its addend and ReLU.
    const output_type& normalize(const input_type& x, context& ctx, const T* addend, bool relu)
    {
        const std::size_t n = this->batch_of(x);
        output_type& y = this->output_for(n);
        // A frozen BatchNorm keeps its statistics, as Keras does (see `frozen_batchnorm`).
        training_ = ctx.training && !(ctx.frozen.batchnorm == frozen_batchnorm::inference &&
                                      ctx.frozen.is_frozen(gamma_) && ctx.frozen.is_frozen(beta_));
        if (training_) ++*batches_tracked_;
        group_ = nullptr;
        if constexpr (Sync)
            if (training_ && ctx.group && ctx.group->size() > 1) group_ = ctx.group;
        if (group_) return forward_synchronized(x, y, n, addend, relu);
        const std::size_t count = n * plane;
        for_each_channel([&](std::size_t c) {
            T mean, var;
            if (training_) {
                const auto [batch_mean, ss] = channel_statistics(x, n, c);
                mean = T(batch_mean);
                var = T(ss / double(count));
                update_running(c, mean, count > 1 ? ss / double(count - 1) : ss);
            } else {
                mean = running_mean_[c];
                var = running_var_[c];
            }
            normalize_channel(x, y, n, c, mean, var, addend, relu);
        });
        return y;
    }

    /// The mean of channel `c` over the batch and the sum of squared
    /// deviations from it: each image's plane is summed, then its squared
    /// deviations from its own mean are summed, and the planes are merged one
    /// by one in double (Chan, Golub and LeVeque's update), as stable as two
    /// passes over the whole channel. The planes go in runs: all the sums of a
    /// run, then all its squared deviations, so that the planes' short chains
    /// of dependent additions overlap, and the run is still in L1 or L2 for
    /// its second pass.
    static std::pair<double, double> channel_statistics(const input_type& x, std::size_t n, std::size_t c)
    {
        constexpr std::size_t run = 16;
        double total_mean = 0, ss = 0;
        double plane_means[run];
        for (std::size_t first = 0; first < n; first += run) {
            const std::size_t count = std::min(run, n - first);
            auto plane_at = [&](std::size_t i) { return x.data() + ((first + i) * channels + c) * plane; };
            for (std::size_t i = 0; i < count; ++i) {
                if (first + i + ahead < n) kernels::prefetch(plane_at(i + ahead), plane);
                plane_means[i] = double(kernels::sum(plane, plane_at(i))) / double(plane);
            }
            for (std::size_t i = 0; i < count; ++i) {
                const double plane_mean = plane_means[i];
                const T center = T(plane_mean);
                const double plane_ss = double(kernels::sum_of(plane, plane_at(i), [center](auto v) {
                    const auto d = v - decltype(v)(center);
                    return d * d;
                }));
                // About the plane's mean, not the rounded center: sum (x - center) = plane * (mean - center).
                const double off = plane_mean - double(center);
                const double merged = double((first + i) * plane), delta = plane_mean - total_mean;
                total_mean += delta * double(plane) / (merged + double(plane));
                ss += std::max(0.0, plane_ss - double(plane) * off * off) +
                      delta * delta * merged * double(plane) / (merged + double(plane));
            }
        }
        return {total_mean, ss};
    }

    /// Folds a batch's mean and unbiased variance into the running statistics.
    void update_running(std::size_t c, T mean, double unbiased)
    {
        // A non-finite batch (a diverged step, a corrupt sample) would make the
        // running statistics NaN for good; PyTorch folds it in regardless, and
        // evaluation after it is NaN. Lepton keeps the channel's statistics as
        // they were (the batch's own output is still computed from it).
        const T next_mean = T((1 - Momentum) * running_mean_[c] + Momentum * mean);
        const T next_var = T((1 - Momentum) * running_var_[c] + Momentum * unbiased);
        if (std::isfinite(next_mean) && std::isfinite(next_var)) {
            running_mean_[c] = next_mean;
            running_var_[c] = next_var;
        }
    }

    /// y = gamma * (x - mean) * inv_std + beta for channel `c` (+ addend, then max(0, .) with `relu`),
    /// remembering mean and inv_std for backward.
    void normalize_channel(const input_type& x, output_type& y, std::size_t n, std::size_t c, T mean, T var,
                           const T* addend, bool relu)
    {
        const T inv_std = T(1) / std::sqrt(var + T(Eps));
        mean_[c] = mean;
        inv_std_[c] = inv_std;
        // y = x * scale + shift (then max(0, .) with a fused ReLU)
        const T scale = gamma_[c] * inv_std, shift = beta_[c] - mean * scale;
        // (No max with -infinity when unfused: the vector max returns its second operand for a NaN.)
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t at = (i * channels + c) * plane;
            prefetch_planes_ahead(i, n, at, x.data(), addend, y.data());
            if (addend && relu)
                kernels::map(plane, x.data() + at, addend + at, y.data() + at, [scale, shift](auto v, auto a) {
                    using V = decltype(v);
                    return xsimd::max(v * V(scale) + V(shift) + a, V(0));
                });
            else if (addend)
                kernels::map(plane, x.data() + at, addend + at, y.data() + at, [scale, shift](auto v, auto a) {
                    return v * decltype(v)(scale) + decltype(v)(shift) + a;
                });
            else if (relu)
                kernels::map(plane, x.data() + at, y.data() + at, [scale, shift](auto v) {
                    using V = decltype(v);
                    return xsimd::max(v * V(scale) + V(shift), V(0));
                });
            else
                kernels::map(plane, x.data() + at, y.data() + at,
                             [scale, shift](auto v) { return v * decltype(v)(scale) + decltype(v)(shift); });
        }
    }

    /// Training forward with the global batch's statistics: every rank's
    /// count, mean and squared deviations are combined exactly as the planes
    /// are (two all-reduces: the means first, then the deviations about the
    /// global mean), as PyTorch's SyncBatchNorm does.
    const output_type& forward_synchronized(const input_type& x, output_type& y, std::size_t n, const T* addend,
                                            bool relu)
    {
        const double count = double(n * plane);
        std::vector<double> sums(channels + 1), deviations(channels);
        std::vector<double> local_mean(channels), local_ss(channels);
        for_each_channel([&](std::size_t c) {
            std::tie(local_mean[c], local_ss[c]) = channel_statistics(x, n, c);
            sums[c] = count * local_mean[c];
        });
        sums[channels] = count;
        group_->all_reduce_sum(sums);
        const double total = sums[channels];
        for (std::size_t c = 0; c < channels; ++c) {
            const double d = local_mean[c] - sums[c] / total;
            deviations[c] = local_ss[c] + count * d * d;
        }
        group_->all_reduce_sum(deviations);
        global_count_ = total;
        for_each_channel([&](std::size_t c) {
            const T mean = T(sums[c] / total);
            const double ss = deviations[c];
            update_running(c, mean, total > 1 ? ss / (total - 1) : ss);
            normalize_channel(x, y, n, c, mean, T(ss / total), addend, relu);
        });
        return y;
    }

    /// Channel `c`'s sums of the (gated) gradient and of the gradient times x - mean.
    template <class Gate>
    std::pair<double, double> gradient_sums(const input_type& x, const output_type& dy, std::size_t n, std::size_t c,
                                            Gate gate) const
    {
        const T mean = mean_[c];
        const T* y = this->y_.data();
        // Per-image vector sums, added up in double: one pass over each plane for both, and no long float chains.
        double s_dy = 0, s_dy_centered = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t at = (i * channels + c) * plane;
            prefetch_planes_ahead(i, n, at, dy.data(), x.data(), y);
            const auto [plane_dy, plane_centered] =
                kernels::sum_pair_of(plane, dy.data() + at, x.data() + at, y + at, [mean, gate](auto g, auto v, auto out) {
                    const auto gated = gate(g, out);
                    return std::pair{gated, gated * (v - decltype(v)(mean))};
                });
            s_dy += double(plane_dy);
            s_dy_centered += double(plane_centered);
        }
        return {s_dy, s_dy_centered};
    }

    /// dL/dx of channel `c` from the sums of its gradient over `count` values (the batch, or the global batch).
    template <class Gate>
    void input_gradient(const input_type& x, const output_type& dy, input_type& dx, std::size_t n, std::size_t c,
                        T sum_dy, T sum_dy_xhat, T count, Gate gate) const
    {
        const T mean = mean_[c], inv_std = inv_std_[c];
        const T* y = this->y_.data();
        const T g = gamma_[c] * inv_std;
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t at = (i * channels + c) * plane;
            prefetch_planes_ahead(i, n, at, dy.data(), x.data(), y, dx.data());
            if (training_) {
                // dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))
                const T a = sum_dy / count, b = sum_dy_xhat / count;
                kernels::map(plane, dy.data() + at, x.data() + at, y + at, dx.data() + at,
                             [=](auto d, auto v, auto out) {
                                 using V = decltype(v);
                                 return V(g) * (gate(d, out) - V(a) - (v - V(mean)) * V(inv_std) * V(b));
                             });
            } else {
                kernels::map(plane, dy.data() + at, y + at, dx.data() + at,
                             [g, gate](auto d, auto out) { return gate(d, out) * decltype(d)(g); });
            }
        }
    }

    /// The backward pass on dL/dy' = gate(dL/dy, y): the ReLU's gradient when
    /// it is fused (y is the layer's own output, already past the ReLU).
    template <class Gate>
    const input_type& backward_masked(const input_type& x, const output_type& dy, bool input_grad, Gate gate)
    {
        const std::size_t n = this->batch_of(x);
        input_type* dx = input_grad ? &this->input_grad_like(x) : nullptr;
        if (group_) {
            // The weight and bias gradients are this rank's (data-parallel training sums them over the ranks);
            // the input gradient needs the sums over the global batch the statistics came from.
            std::vector<double> sums(2 * channels);
            for_each_channel([&](std::size_t c) {
                std::tie(sums[c], sums[channels + c]) = gradient_sums(x, dy, n, c, gate);
                dbeta_[c] += T(sums[c]);
                dgamma_[c] += T(sums[channels + c] * double(inv_std_[c]));
            });
            if (!dx) return this->dx_;
            group_->all_reduce_sum(sums);
            for_each_channel([&](std::size_t c) {
                input_gradient(x, dy, *dx, n, c, T(sums[c]), T(sums[channels + c] * double(inv_std_[c])),
                               T(global_count_), gate);
            });
            return *dx;
        }
        const T count = T(n * plane);
        for_each_channel([&](std::size_t c) {
            const auto [s_dy, s_dy_centered] = gradient_sums(x, dy, n, c, gate);
            const T sum_dy = T(s_dy), sum_dy_xhat = T(s_dy_centered * double(inv_std_[c]));
            dbeta_[c] += sum_dy;
            dgamma_[c] += sum_dy_xhat;
            if (dx) input_gradient(x, dy, *dx, n, c, sum_dy, sum_dy_xhat, count, gate);
        });
        return dx ? *dx : this->dx_;
    }

    /// How many planes ahead the passes over one channel ask for the next plane (see `kernels::prefetch`).
    static constexpr std::size_t ahead = 2;

    /// Asks for the plane `ahead` images after the one at `at` (image `image` of `n`) in each of `arrays`:
    /// for reading where the array is const, for writing where it is not; null arrays are skipped.
    template <class... Arrays>
    static void prefetch_planes_ahead(std::size_t image, std::size_t n, std::size_t at, Arrays*... arrays)
    {
        if (image + ahead >= n) return;
        const std::size_t next = at + ahead * channels * plane;
        auto ask = [next]<class A>(A* array) {
            if (!array) return;
            if constexpr (std::is_const_v<A>)
                kernels::prefetch(array + next, plane);
            else
                kernels::prefetch_for_writing(array + next, plane);
        };
        (ask(arrays), ...);
    }

    template <class Body>
    static void for_each_channel(Body&& body)
    {
        const int threads = std::min<int>(kernels::threads_for(double(In::size) * 64.0, 2.0e5), int(channels));
        kernels::parallel_region(threads, [&](int t, int nt) {
            const auto r = kernels::split_range(channels, t, nt);
            for (std::size_t c = r.begin; c < r.end; ++c) body(c);
        });
    }

    T* gamma_ = nullptr;
    T* beta_ = nullptr;
    T* dgamma_ = nullptr;
    T* dbeta_ = nullptr;
    T* running_mean_ = nullptr;
    T* running_var_ = nullptr;
    std::int64_t* batches_tracked_ = nullptr;
    std::vector<T> mean_, inv_std_;
    distributed::process_group* group_ = nullptr;  ///< set by a synchronised training forward pass
    double global_count_ = 0;                      ///< values per channel in the global batch
    bool training_ = false;
    bool relu_ = false;
};

/// `BatchNorm2D<Momentum = 0.1, Eps = 1e-5>` over [channels, height, width].
template <real Momentum = 0.1, real Eps = 1e-5>
struct BatchNorm2D {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = batchnorm_layer<T, Backend, In, Index, 3, Momentum, Eps>;
};

/// `BatchNorm1D<Momentum = 0.1, Eps = 1e-5>` over [features].
template <real Momentum = 0.1, real Eps = 1e-5>
struct BatchNorm1D {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = batchnorm_layer<T, Backend, In, Index, 1, Momentum, Eps>;
};

/// `SyncBatchNorm2D<Momentum = 0.1, Eps = 1e-5>`: BatchNorm2D whose training
/// statistics (and the input gradient's sums) cover the global batch of
/// data-parallel training, every rank's samples (PyTorch's `SyncBatchNorm`,
/// which runs on GPUs only; the same parameter and buffer names). Outside
/// data-parallel training, and in evaluation, it is BatchNorm2D. Every rank
/// must run every training forward pass: the reductions are collectives.
template <real Momentum = 0.1, real Eps = 1e-5>
struct SyncBatchNorm2D {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = batchnorm_layer<T, Backend, In, Index, 3, Momentum, Eps, true>;
};

/// `SyncBatchNorm1D<Momentum = 0.1, Eps = 1e-5>`: BatchNorm1D over the global batch (see `SyncBatchNorm2D`).
template <real Momentum = 0.1, real Eps = 1e-5>
struct SyncBatchNorm1D {
    /// The layer this spec becomes once the network binds it to a scalar type, backend, input shape and index.
    template <class T, class Backend, class In, std::size_t Index>
    using bind = batchnorm_layer<T, Backend, In, Index, 1, Momentum, Eps, true>;
};

} // namespace lepton
