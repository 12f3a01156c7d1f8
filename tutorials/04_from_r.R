# 04 · ecodml from R: both pipelines through reticulate, data.frames in and out
#
#   Rscript tutorials/04_from_r.R [PYTHON] [OUTDIR]
#
# PYTHON: the python of the package's R environment (default: the RETICULATE_PYTHON environment
#         variable, else .venv-r/bin/python of the repository, built by `make r-env`).
# OUTDIR: where to write (default: tutorial_output/04_from_r).
# See tutorials/04_from_r.md for the explanations. Runs in about a minute on 2 CPU cores.

args <- commandArgs(trailingOnly = TRUE)
python <- if (length(args) >= 1) args[[1]] else Sys.getenv("RETICULATE_PYTHON", ".venv-r/bin/python")
out <- if (length(args) >= 2) args[[2]] else file.path("tutorial_output", "04_from_r")
dir.create(out, recursive = TRUE, showWarnings = FALSE)

# ---- 1. point reticulate at the package's Python, before anything else touches Python
library(reticulate)
use_python(python, required = TRUE)
ednaembed <- import("ednaembed")
ecoreid <- import("ecoreid")
cat("Python:", py_config()$python, "\n")

# Tables that R receives with a column of pandas' nullable "string" type arrive, with
# reticulate 1.28, holding a Python object in that column; this turns such columns into
# character vectors (NA where missing). Harmless on tables that do not need it.
as_r_table <- function(df) {
  for (col in names(df)) {
    if (inherits(df[[col]], "python.builtin.object")) {
      vals <- df[[col]]$to_numpy(dtype = "object", na_value = NULL)
      df[[col]] <- unname(vapply(vals, function(e) if (is.null(e)) NA_character_ else as.character(e), ""))
    }
  }
  df
}

# ---- 2. eDNA: simulate a small run from the bundled 16S references (your own FASTQ files go here)
simulate <- import("ednaembed.simulate")
sim <- simulate$simulate_community(n_samples = 12L, n_habitats = 3L, reads_per_sample = 500L, seed = 0L)
input <- file.path(out, "edna_input")
invisible(simulate$write_sample_files(sim, input, seed = 0L))

# the sample sheet is an ordinary R data.frame: add or fix metadata in R before the run
sheet <- read.csv(file.path(input, "samples.csv"), stringsAsFactors = FALSE)
sheet$season <- ifelse(seq_len(nrow(sheet)) %% 2 == 0, "spring", "autumn")
reads <- file.path(input, sheet$file)

res <- ednaembed$run(reads, samples = sheet, out = file.path(out, "edna_results"), overwrite = TRUE,
                     max_ee = 2, map_method = "pca", permutations = 199L, seed = 0L, progress = FALSE)

motu_table <- res$motu_table                    # data.frame: sample_id + one column per MOTU
sample_map <- res$sample_map                    # data.frame: sample_id, x, y + the sheet's columns
assignments <- as_r_table(res$read_assignments) # motu_id is a nullable string column in pandas
str(sample_map)
cat(sprintf("%d samples, %d MOTUs, %d distinct sequences (%d unassigned)\n",
            nrow(motu_table), ncol(motu_table) - 1, nrow(assignments), sum(is.na(assignments$motu_id))))

# the faithfulness report is a nested R list
f <- res$report$faithfulness$map
cat(sprintf("map vs Bray-Curtis: Mantel r = %.2f (p = %.3f); vs sequences: r = %.2f\n",
            f$mantel_braycurtis$r, f$mantel_braycurtis$p, f$mantel_sequence$r))

# ---- 3. a base-R plot of the sample map (no ggplot2 needed)
habitats <- sort(unique(sample_map$habitat))
cols <- setNames(c("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")[seq_along(habitats)], habitats)
png(file.path(out, "sample_map.png"), width = 900, height = 720, res = 120)
plot(sample_map$x, sample_map$y, pch = ifelse(sample_map$season == "spring", 19, 17),
     col = cols[sample_map$habitat], cex = 1.6, xlab = "map axis 1", ylab = "map axis 2",
     main = sprintf("%d samples, %d MOTUs (Mantel r vs Bray-Curtis %.2f)",
                    nrow(sample_map), ncol(motu_table) - 1, f$mantel_braycurtis$r))
text(sample_map$x, sample_map$y, sample_map$sample_id, pos = 3, cex = 0.6)
legend("topright", legend = c(habitats, "spring", "autumn"), col = c(cols, "grey30", "grey30"),
       pch = c(rep(15, length(habitats)), 19, 17), bty = "n", cex = 0.8)
invisible(dev.off())

# the MOTU table goes straight into R's ecology tools, e.g. Bray-Curtis with base R:
counts <- as.matrix(motu_table[, -1])
rownames(counts) <- motu_table$sample_id
rel <- counts / rowSums(counts)
bray <- as.matrix(dist(rel, method = "manhattan")) / 2   # Bray-Curtis on relative abundances
write.csv(round(bray, 4), file.path(out, "bray_curtis.csv"))

# ---- 4. photo-ID: generate photos with the command line tool, run from R
photos <- file.path(out, "photos")
status <- system2(python, c("-m", "ecoreid.cli", "generate", "--out", photos, "--individuals", "10",
                            "--photos", "5", "--seed", "1", "--overwrite", "--quiet"))
stopifnot(status == 0)
catalog <- read.csv(file.path(photos, "catalog.csv"), stringsAsFactors = FALSE, na.strings = character())

# options as an R list; ReidConfig.from_dict turns it into the configuration the pipeline takes
config <- ecoreid$ReidConfig$from_dict(list(
  model = list(backbone = "small", image_size = c(48L, 64L), embedding_size = 32L, epochs = 2L, batch_size = 16L),
  shortlist_k = 10L, network_k = 5L, vlad_words = 16L, vlad_dim = 32L, seed = 0L))
reid <- ecoreid$run(file.path(photos, "images"), catalog = file.path(photos, "catalog.csv"),
                    truth = file.path(photos, "truth.csv"), config = config,
                    out = file.path(out, "reid_results"), overwrite = TRUE, progress = FALSE)

a <- reid$assignments       # one row per query photo
print(head(a[, c("image", "proposed_individual", "score", "is_new")]))
ev <- reid$report$evaluation
cat(sprintf("%d query photos, %d flagged new; top-1 %.2f, BAKS %.2f, BAUS %.2f\n",
            nrow(a), sum(a$is_new), ev$top1, ev$baks, ev$baus))
cat("review page:", file.path(out, "reid_results", "review.html"), "\n")

# counts of query photos per proposed individual, in base R
tab <- sort(table(a$proposed_individual), decreasing = TRUE)
write.csv(data.frame(individual = names(tab), photos = as.integer(tab)), file.path(out, "photos_per_individual.csv"),
          row.names = FALSE)
cat("done; outputs in", normalizePath(out), "\n")
