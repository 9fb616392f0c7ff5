#pragma once
/// \file
/// The Cora citation graph with the standard Planetoid split (Kipf & Welling's
/// 140 / 500 / 1,000 nodes), read from the plain-text files in `data/cora/`
/// (see data/cora/README.md for their format, provenance and licences).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../graph/graph.hpp"
#include "../graph/sparse_matrix.hpp"

namespace lepton::data {

/// A node-classification data set: one graph, features and a label per node,
/// and the node ids of each split.
template <class T = float>
struct node_dataset {
    Graph graph;                        ///< the edges between nodes
    sparse_matrix<T> features;          ///< [nodes, features]
    std::vector<std::int32_t> labels;   ///< class of every node
    std::vector<std::size_t> train;       ///< node ids to train on
    std::vector<std::size_t> validation;  ///< node ids for model selection
    std::vector<std::size_t> test;        ///< node ids to report accuracy on
    std::vector<std::string> class_names; ///< name of each class index
};

namespace detail {

/// Reads the non-comment lines of a text file, calling `line(text, line_number, byte_offset)`.
template <class F>
void read_text_lines(const std::string& path, F&& line)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error("lepton: cannot open '" + path + "'");
    std::string text;
    std::size_t number = 0, offset = 0;
    while (std::getline(in, text)) {
        ++number;
        const std::size_t at = offset;
        offset += text.size() + 1;
        if (!text.empty() && text.back() == '\r') text.pop_back();
        if (text.empty() || text[0] == '#') continue;
        line(text, number, at);
    }
    if (in.bad()) throw io_error("lepton: '" + path + "': read error at byte offset " + std::to_string(offset));
}

[[noreturn]] inline void bad_line(const std::string& path, std::size_t number, std::size_t offset,
                                  const std::string& what)
{
    throw io_error("lepton: '" + path + "' line " + std::to_string(number) + " (byte offset " + std::to_string(offset) +
                   "): " + what);
}

/// Parses a whole line of unsigned integers; throws naming the line when any is malformed or >= `limit`.
inline std::vector<std::size_t> parse_ids(const std::string& text, const std::string& path, std::size_t number,
                                          std::size_t offset, std::size_t limit)
{
    std::vector<std::size_t> ids;
    std::istringstream in(text);
    std::string token;
    while (in >> token) {
        std::size_t used = 0, v = 0;
        try {
            v = std::stoul(token, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != token.size() || token[0] == '-') bad_line(path, number, offset, "'" + token + "' is not a number");
        if (v >= limit)
            bad_line(path, number, offset, std::to_string(v) + " is out of range (must be < " + std::to_string(limit) + ")");
        ids.push_back(v);
    }
    return ids;
}

} // namespace detail

/// Nodes of Cora.
inline constexpr std::size_t cora_nodes = 2708;
/// Bag-of-words features (words) of a Cora node.
inline constexpr std::size_t cora_words = 1433;

/// Cora's files, one reader each (each throws `io_error` naming the file and
/// the line at fault); `load_cora` reads them all.
namespace cora {

/// `planetoid_cora.labels.txt`: one "<index> <name>" line per class, indices 0, 1, ...
inline std::vector<std::string> read_class_names(const std::string& path)
{
    std::vector<std::string> names;
    detail::read_text_lines(path, [&](const std::string& text, std::size_t number, std::size_t offset) {
        std::istringstream in(text);
        std::size_t index;
        std::string name;
        if (!(in >> index >> name) || index != names.size())
            detail::bad_line(path, number, offset, "expected '<index> <name>' with index " + std::to_string(names.size()));
        names.push_back(name);
    });
    return names;
}

/// `planetoid_cora.features.txt`: "node<TAB>label<TAB>word ids" for each of
/// `nodes` nodes; labels below `classes`, words below `words`. Fills `labels`
/// and returns the binary bag-of-words rows.
template <class T = float>
sparse_matrix<T> read_features(const std::string& path, std::size_t nodes, std::size_t words, std::size_t classes,
                               std::vector<std::int32_t>& labels)
{
    std::vector<triplet<T>> entries;
    std::vector<std::int32_t> read_labels(nodes, -1);  // `labels` changes only when the whole file checked out
    detail::read_text_lines(path, [&](const std::string& text, std::size_t number, std::size_t offset) {
        const std::size_t tab1 = text.find('\t'), tab2 = tab1 == std::string::npos ? tab1 : text.find('\t', tab1 + 1);
        if (tab2 == std::string::npos) detail::bad_line(path, number, offset, "expected 'node<TAB>label<TAB>words'");
        const auto node = detail::parse_ids(text.substr(0, tab1), path, number, offset, nodes);
        const auto label = detail::parse_ids(text.substr(tab1 + 1, tab2 - tab1 - 1), path, number, offset, classes);
        if (node.size() != 1 || label.size() != 1) detail::bad_line(path, number, offset, "expected one node id and one label");
        if (read_labels[node[0]] != -1)
            detail::bad_line(path, number, offset, "node " + std::to_string(node[0]) + " appears twice");
        read_labels[node[0]] = static_cast<std::int32_t>(label[0]);
        auto ids = detail::parse_ids(text.substr(tab2 + 1), path, number, offset, words);
        std::sort(ids.begin(), ids.end());
        if (const auto twice = std::adjacent_find(ids.begin(), ids.end()); twice != ids.end())
            detail::bad_line(path, number, offset, "word " + std::to_string(*twice) + " appears twice (features are 0 or 1)");
        for (std::size_t w : ids) entries.push_back({node[0], w, T(1)});
    });
    for (std::size_t i = 0; i < nodes; ++i)
        if (read_labels[i] < 0) throw io_error("lepton: '" + path + "' has no line for node " + std::to_string(i));
    auto features = sparse_matrix<T>::from_triplets(nodes, words, std::move(entries));
    labels = std::move(read_labels);
    return features;
}

/// `planetoid_cora.edges.txt`: "<source> <target>" lines, ids below `nodes`.
inline std::vector<std::pair<std::size_t, std::size_t>> read_edges(const std::string& path, std::size_t nodes)
{
    std::vector<std::pair<std::size_t, std::size_t>> edges;
    detail::read_text_lines(path, [&](const std::string& text, std::size_t number, std::size_t offset) {
        const auto uv = detail::parse_ids(text, path, number, offset, nodes);
        if (uv.size() != 2) detail::bad_line(path, number, offset, "expected two node ids");
        edges.emplace_back(uv[0], uv[1]);
    });
    return edges;
}

/// `planetoid_cora.{train,val,test}.txt`: one node id (below `nodes`) per line.
inline std::vector<std::size_t> read_split(const std::string& path, std::size_t nodes)
{
    std::vector<std::size_t> ids;
    detail::read_text_lines(path, [&](const std::string& text, std::size_t number, std::size_t offset) {
        const auto id = detail::parse_ids(text, path, number, offset, nodes);
        if (id.size() != 1) detail::bad_line(path, number, offset, "expected one node id");
        ids.push_back(id[0]);
    });
    return ids;
}

} // namespace cora

/// Loads Cora from `dir` (the project's `data/cora`): 2,708 nodes, binary
/// bag-of-words features [2708, 1433] (sparse, not yet normalised), 7 classes,
/// the undirected citation graph (both directions stored, no self loops) and
/// the Planetoid split. Throws `io_error` naming the file and line on bad input.
template <class T = float>
node_dataset<T> load_cora(const std::string& dir)
{
    const std::string prefix = dir + "/planetoid_cora.";
    node_dataset<T> d;
    d.class_names = cora::read_class_names(prefix + "labels.txt");
    d.features = cora::read_features<T>(prefix + "features.txt", cora_nodes, cora_words, d.class_names.size(), d.labels);
    d.graph = Graph(cora_nodes, cora::read_edges(prefix + "edges.txt", cora_nodes), graph_options{.symmetrize = true});
    d.train = cora::read_split(prefix + "train.txt", cora_nodes);
    d.validation = cora::read_split(prefix + "val.txt", cora_nodes);
    d.test = cora::read_split(prefix + "test.txt", cora_nodes);
    return d;
}

} // namespace lepton::data
