# Runs both ecodml pipelines from R through reticulate and checks what R receives.
#
#   Rscript tests/r/check_pipelines.R PYTHON [WORKDIR]
#
# PYTHON: the python of a venv where ecodml is installed with numpy<2 and pandas<3
#         (`make r-env` builds .venv-r; Debian's reticulate 1.28 converts nothing newer).
# WORKDIR: where to write (default: a temporary folder).
#
# Every returned table must arrive in R as a data.frame with the expected column names,
# R types and row counts, with no conversion code: a column that arrives as a Python object or
# an R list is a failure (the package hands R tables in dtypes reticulate 1.28 converts,
# dmlcore.rtables; text with missing values arrives as a factor with NA, see
# docs/r_api_notes.md). Any mismatch is printed as FAIL and the script exits with status 1.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) {
  cat("usage: Rscript tests/r/check_pipelines.R PYTHON [WORKDIR]\n", file = stderr())
  quit(status = 2)
}
python <- args[[1]]
work <- if (length(args) >= 2) args[[2]] else tempfile("ecodml_r_")
dir.create(work, recursive = TRUE, showWarnings = FALSE)

suppressPackageStartupMessages(library(reticulate))
use_python(python, required = TRUE)
cfg <- py_config()
cat("python:", cfg$python, "| numpy", as.character(cfg$numpy$version), "\n")
if (!py_module_available("ednaembed") || !py_module_available("ecoreid")) {
  cat("FAIL ecodml is not installed in", python, "(run `make r-env`)\n")
  quit(status = 1)
}

failures <- character()
check <- function(ok, what) {
  ok <- isTRUE(ok)
  cat(if (ok) "ok   " else "FAIL ", what, "\n", sep = "")
  if (!ok) failures <<- c(failures, what)
  invisible(ok)
}

# No conversion code: every column must already be an R vector (not a Python object, not a list).
plain_columns <- function(df, name) {
  for (col in names(df)) {
    v <- df[[col]]
    check(!inherits(v, "python.builtin.object") && !is.list(v),
          sprintf("%s$%s is an R vector (got %s)", name, col, paste(class(v), collapse = "/")))
  }
  df
}

r_type <- function(v) {
  if (inherits(v, "POSIXct") || inherits(v, "Date")) return("date")
  if (is.factor(v)) return("factor")
  if (is.logical(v)) return("logical")
  if (is.numeric(v)) return("numeric")
  if (is.character(v)) return("character")
  paste(class(v), collapse = "/")
}

# types: named character vector column -> "character" | "numeric" | "logical" | "date"
check_table <- function(df, name, types, nrow = NULL) {
  if (!check(is.data.frame(df), sprintf("%s is a data.frame (got %s)", name, paste(class(df), collapse = "/")))) {
    return(NULL)
  }
  df <- plain_columns(df, name)
  missing <- setdiff(names(types), names(df))
  check(length(missing) == 0, sprintf("%s has columns %s%s", name, paste(names(types), collapse = ","),
                                      if (length(missing)) paste0(" (missing: ", paste(missing, collapse = ","), ")") else ""))
  for (col in intersect(names(types), names(df))) {
    got <- r_type(df[[col]])
    # text with missing values arrives as a factor with NA (reticulate 1.28 has no other NA string)
    ok <- identical(got, types[[col]]) || (identical(types[[col]], "character") && identical(got, "factor"))
    check(ok, sprintf("%s$%s is %s (got %s)", name, col, types[[col]], got))
  }
  if (!is.null(nrow)) check(nrow(df) == nrow, sprintf("%s has %d rows (got %d)", name, nrow, nrow(df)))
  df
}

# ------------------------------------------------------------------ eDNA
cat("\n== ednaembed ==\n")
edna <- import("ednaembed")
simulate <- import("ednaembed.simulate")
n_samples <- 6L
sim <- simulate$simulate_community(n_samples = n_samples, n_habitats = 2L, reads_per_sample = 300L, seed = 0L)
edna_in <- file.path(work, "edna_input")
invisible(simulate$write_sample_files(sim, edna_in, seed = 0L))
sheet <- read.csv(file.path(edna_in, "samples.csv"), stringsAsFactors = FALSE)
check(nrow(sheet) == n_samples, "sample sheet read back in R")
reads <- file.path(edna_in, sheet$file)

t0 <- Sys.time()
res <- edna$run(reads, samples = sheet, out = file.path(work, "edna_results"), max_ee = 2,
                map_method = "pca", permutations = 49L, progress = FALSE, seed = 0L)
cat(sprintf("ednaembed.run: %.1f s\n", as.numeric(difftime(Sys.time(), t0, units = "secs"))))

summary <- res$report$summary
check(is.list(res$report) && is.list(summary), "report is a list")
check(identical(as.integer(summary$n_samples), n_samples), "report$summary$n_samples")
n_motus <- as.integer(summary$n_motus)
check(length(n_motus) == 1 && n_motus > 0, "report$summary$n_motus > 0")

mt <- check_table(res$motu_table, "motu_table", c(sample_id = "character"), nrow = n_samples)
if (!is.null(mt)) {
  check(identical(mt$sample_id, as.character(sheet$sample_id)), "motu_table rows follow the sample sheet")
  check(ncol(mt) == n_motus + 1, sprintf("motu_table has 1 + %d MOTU columns (got %d)", n_motus, ncol(mt) - 1))
  counts <- as.matrix(mt[, -1, drop = FALSE])
  check(is.numeric(counts) && all(counts >= 0), "motu_table counts are non-negative numbers")
  check(sum(counts) == as.numeric(summary$n_reads) - as.numeric(summary$unassigned_reads),
        "motu_table counts add up to the assigned reads")
}
motus <- check_table(res$motus, "motus", c(motu_id = "character", sequence = "character", size = "numeric",
                                           n_unique = "numeric"), nrow = n_motus)
if (!is.null(motus) && !is.null(mt)) {
  check(setequal(names(mt)[-1], motus$motu_id), "motu_table columns are the MOTU ids")
}
ra <- check_table(res$read_assignments, "read_assignments",
                  c(sequence = "character", motu_id = "character", probability = "numeric", abundance = "numeric"),
                  nrow = as.integer(summary$n_unique_sequences))
if (!is.null(ra)) {
  p <- ra$probability[!is.na(ra$motu_id)]
  check(all(p >= 0.5 - 1e-9 & p <= 1 + 1e-9), "read_assignments$probability in [0.5, 1] for assigned sequences")
  check(all(ra$motu_id[!is.na(ra$motu_id)] %in% motus$motu_id), "read_assignments$motu_id are MOTU ids")
}
se <- check_table(res$sample_embeddings, "sample_embeddings", c(sample_id = "character", e0 = "numeric"),
                  nrow = n_samples)
if (!is.null(se)) {
  E <- as.matrix(se[, -1])
  check(is.numeric(E) && all(abs(rowSums(E^2) - 1) < 1e-3), "sample_embeddings rows are unit vectors")
}
sm <- check_table(res$sample_map, "sample_map", c(sample_id = "character", x = "numeric", y = "numeric",
                                                  habitat = "character", gradient = "numeric"),
                  nrow = n_samples)
if (!is.null(sm)) check(all(is.finite(sm$x) & is.finite(sm$y)), "sample_map coordinates are finite")
invisible(check_table(res$pcoa_map, "pcoa_map", c(sample_id = "character", x = "numeric", y = "numeric"), nrow = n_samples))
r_bc <- res$report$faithfulness$map$mantel_braycurtis$r
check(is.numeric(r_bc) && length(r_bc) == 1 && abs(r_bc) <= 1, "report$faithfulness$map$mantel_braycurtis$r is a number in [-1, 1]")
for (f in c("motu_table.csv", "sample_map.csv", "sample_map.png", "report.json")) {
  check(file.exists(file.path(work, "edna_results", f)), paste("ednaembed wrote", f))
}
# a sample sheet (R data.frame) missing a sample that has reads must fail with a clear Python error
err <- tryCatch({
  edna$run(reads, samples = sheet[-1, ], progress = FALSE, map_method = "pca", permutations = 9L)
  ""
}, error = function(e) conditionMessage(e))
check(grepl("InputError", err) && grepl(sheet$sample_id[1], err, fixed = TRUE),
      paste("bad sample sheet raises InputError in R; got:", substr(err, 1, 300)))

# ------------------------------------------------------------------ photo-ID
cat("\n== ecoreid ==\n")
reid <- import("ecoreid")
data_dir <- file.path(work, "photos")
# the data generator in this R session (a subprocess would inherit R's LD_LIBRARY_PATH, with which
# the Python's _ssl module fails to load), options as an R list
datasets <- import("ecoreid.datasets")
synth <- datasets$SynthConfig$from_dict(list(n_individuals = 8L, photos_per_individual = 5L, seed = 1L))
invisible(datasets$generate_dataset(data_dir, config = synth))
check(file.exists(file.path(data_dir, "catalog.csv")), "ecoreid.datasets.generate_dataset from R")
catalog <- read.csv(file.path(data_dir, "catalog.csv"), stringsAsFactors = FALSE, na.strings = character())
n_query <- sum(catalog$individual_id == "")
check(n_query > 0 && n_query < nrow(catalog), "catalogue has identified and query photos")

# options as an R list; ReidConfig.from_dict builds the configuration object
config <- reid$ReidConfig$from_dict(list(
  model = list(backbone = "small", image_size = c(48L, 64L), embedding_size = 32L, epochs = 1L, batch_size = 16L),
  shortlist_k = 10L, network_k = 5L, vlad_words = 16L, vlad_dim = 32L, seed = 0L))
t0 <- Sys.time()
rr <- reid$run(file.path(data_dir, "images"), catalog = file.path(data_dir, "catalog.csv"),
               truth = file.path(data_dir, "truth.csv"), out = file.path(work, "reid_results"),
               config = config, progress = FALSE)
cat(sprintf("ecoreid.run: %.1f s\n", as.numeric(difftime(Sys.time(), t0, units = "secs"))))

cand <- setNames(rep(c("character", "numeric"), 5), as.vector(rbind(paste0("candidate_", 1:5), paste0("score_", 1:5))))
a <- check_table(rr$assignments, "assignments",
                 c(image = "character", true_individual = "character", proposed_individual = "character",
                   score = "numeric", is_new = "logical", community = "numeric", cand, decision = "character"),
                 nrow = n_query)
if (!is.null(a)) {
  check(all(a$score >= 0 & a$score <= 1), "assignments$score is a probability")
  check(all(startsWith(a$proposed_individual[a$is_new], "new_")), "new individuals are labelled new_...")
  check(all(a$image %in% catalog$image[catalog$individual_id == ""]), "assignments are the query photos")
}
n_known <- length(unique(catalog$individual_id[catalog$individual_id != ""]))
ind <- check_table(rr$individuals, "individuals",
                   c(individual_id = "character", status = "character", n_photos = "numeric", n_queries = "numeric",
                     first_date = "character", last_date = "character"))
if (!is.null(ind) && !is.null(a)) {
  check(sum(ind$status == "known") == n_known, "individuals lists every catalogue individual")
  check(sum(ind$status == "proposed_new") == length(unique(a$proposed_individual[a$is_new])),
        "individuals lists every proposed new individual")
}
ph <- check_table(rr$photos, "photos", c(image = "character", individual_id = "character", date = "date",
                                         is_query = "logical", community = "numeric"), nrow = nrow(catalog))
if (!is.null(ph)) check(sum(ph$is_query) == n_query, "photos$is_query marks the queries")
pairs <- check_table(rr$pairs, "pairs", c(query_image = "character", catalogue_image = "character",
                                          cosine = "numeric", inliers = "numeric", prob_fused = "numeric"))
if (!is.null(pairs) && !is.null(a)) check(all(pairs$query_image %in% a$image), "pairs$query_image are queries")
# non-fatal problems (e.g. an individual with a single photo): a table, possibly empty
invisible(check_table(rr$problems, "problems", c(kind = "character", message = "character", path = "character")))
ev <- rr$report$evaluation
check(is.list(ev) && is.numeric(ev$top1) && ev$top1 >= 0 && ev$top1 <= 1, "report$evaluation$top1 is a number")
check(is.numeric(ev$sqrt_baks_baus), "metrics$evaluation$sqrt_baks_baus is a number")
for (f in c("assignments.csv", "review.html", "similarity_network.graphml", "report.json")) {
  check(file.exists(file.path(work, "reid_results", f)), paste("ecoreid wrote", f))
}

# ------------------------------------------------------------------ verdict
cat("\n")
if (length(failures)) {
  cat(length(failures), "check(s) failed:\n")
  cat(paste0("  ", failures, "\n"), sep = "")
  quit(status = 1)
}
cat("all checks passed\n")
