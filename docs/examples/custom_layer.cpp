// The worked example of docs/custom_layer.md: `Scale`, a layer with one
// learnable factor per feature, y = x * gamma. CTest builds this file and runs
// it: it checks the layer's gradients against central differences.
#include <lepton/lepton.hpp>
#include <lepton/testing/gradient_check.hpp>

#include <cstdio>

namespace lepton {

// The layer: what `Scale` becomes once the network knows the scalar type T,
// the backend, the shape `In` of one input sample and the layer's index.
template <class T, class Backend, class In, std::size_t Index>
class scale_layer : public detail::layer_base<T, In, In> {  // output shape = input shape
    using base = typename scale_layer::layer_base;

public:
    using typename base::input_type;
    using typename base::output_type;
    static constexpr const char* kind = "Scale";              // summaries and error messages
    static constexpr std::size_t features = In::size;         // elements of one sample
    static constexpr std::size_t parameter_count = features;  // one gamma per feature

    // The network owns the parameters: the layer gets its slice of both buffers.
    void bind(T* params, T* grads) noexcept
    {
        gamma_ = params;
        dgamma_ = grads;
    }

    // Identity at the start, like BatchNorm's gamma.
    void initialize(random_engine&)
    {
        for (std::size_t i = 0; i < features; ++i) gamma_[i] = T(1);
    }

    // Names, data, gradients and shapes: used by summaries, checkpoints and gradient checks.
    template <class F>
    void for_each_parameter(F&& f)
    {
        f("weight", gamma_, dgamma_, parameter_shape{features});
    }

    const output_type& forward(const input_type& x, context&)
    {
        output_type& y = this->output_like(x);  // a buffer the layer owns and reuses
        const std::size_t n = this->batch_of(x);
        for (std::size_t s = 0; s < n; ++s)
            for (std::size_t i = 0; i < features; ++i)
                y.data()[s * features + i] = x.data()[s * features + i] * gamma_[i];
        return y;
    }

    // Gradients accumulate (+=): the network zeroes them between steps.
    const input_type& backward(const input_type& x, const output_type& dy, bool input_grad)
    {
        const std::size_t n = this->batch_of(x);
        for (std::size_t s = 0; s < n; ++s)
            for (std::size_t i = 0; i < features; ++i)
                dgamma_[i] += dy.data()[s * features + i] * x.data()[s * features + i];
        if (!input_grad) return this->dx_;  // the first layer's input needs no gradient
        input_type& dx = this->input_grad_like(x);
        for (std::size_t s = 0; s < n; ++s)
            for (std::size_t i = 0; i < features; ++i)
                dx.data()[s * features + i] = dy.data()[s * features + i] * gamma_[i];
        return dx;
    }

private:
    T* gamma_ = nullptr;
    T* dgamma_ = nullptr;
};

// The spec: what users write in a network type.
struct Scale {
    template <class T, class Backend, class In, std::size_t Index>
    using bind = scale_layer<T, Backend, In, Index>;
};

} // namespace lepton

using namespace lepton;

// Double precision: float round-off would hide real gradient errors.
using Net = Network<double, cpu, Input<6>, Dense<5>, Scale, Tanh, Dense<3>>;
static_assert(Net::parameter_count == 6 * 5 + 5 + 5 + 5 * 3 + 3);

int main()
{
    Net net(/*seed=*/1);
    std::printf("%s", Net::summary().c_str());

    Net::input_type x({4, 6});  // a batch of 4 samples
    random_engine rng(3);
    for (auto& v : x) v = rng.uniform(-1.0, 1.0);

    const testing::gradient_report r = testing::check_gradients(net, x);
    std::printf("checked %zu gradient entries, max relative error %.3g (%s)\n", r.checked, r.max_relative_error,
                r.worst.c_str());
    return r.checked > 0 && r.max_relative_error < 1e-6 ? 0 : 1;
}
