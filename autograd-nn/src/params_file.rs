//! [`save_params`], [`save_params_compressed`], [`load_params`] and
//! [`load_params_lenient`]: a module's parameters in an `.npz` file, keyed
//! by [`Module::named_params`], as `np.savez` (stored) or
//! `np.savez_compressed` (deflated, what DeZero's `save_weights` calls)
//! write them: `numpy.load(path)["l0/W"]` reads one back, and DeZero's
//! files load here.
//!
//! Each array is the parameter's value as it is: a [`Linear`](crate::Linear)
//! weight is stored `(in, out)`, as DeZero's, which is the transpose of
//! torch's `Linear.weight` (`(out, in)`); a PyTorch state dict's weights
//! need `.T` on the way in or out.
//!
//! The format is read and written here (`npz.rs` the zip container,
//! `npy.rs` each array) rather than through a crate, so that every size a
//! file states is checked against the file before anything is allocated
//! for it.

mod npy;
mod npz;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use autograd_core::{Strategy, Variable};
use ndarray::ArrayD;

use crate::{Error, Module, Result};

/// Writes every parameter of `module` to an uncompressed `.npz` file at
/// `path`, one `f64` array per parameter, named as `named_params` names it:
/// what `np.savez` writes. [`save_params_compressed`] deflates the arrays.
///
/// A parameter that `named_params` lists at several places (a weight that
/// two layers share) is saved once, under the first name it gives it.
/// Weights are stored as the module holds them: a [`Linear`](crate::Linear)
/// weight `(in, out)`, transposed against torch's `Linear.weight`.
///
/// ```
/// use autograd_nn::{Activation, Mlp, Module, load_params, save_params};
///
/// let trained = Mlp::new(&[3, 5, 2], Activation::Tanh, 1)?;
/// let path = std::env::temp_dir().join(format!("autograd-nn-doc-{}.npz", std::process::id()));
/// save_params(&trained, &path)?;
/// let fresh = Mlp::new(&[3, 5, 2], Activation::Tanh, 2)?;
/// load_params(&fresh, &path)?;
/// assert_eq!(fresh.params()[0].data(), trained.params()[0].data());
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), autograd_nn::Error>(())
/// ```
///
/// # Errors
/// [`Error::DuplicateName`] when two different parameters share a name
/// (nothing is written then), [`Error::Io`] when the file cannot be
/// written.
pub fn save_params<S, M, P>(module: &M, path: P) -> Result<()>
where
    S: Strategy,
    M: Module<S> + ?Sized,
    P: AsRef<Path>,
{
    save(module, path.as_ref(), false)
}

/// [`save_params`] with every array deflated: what `np.savez_compressed`
/// (and so DeZero's `save_weights`) writes. Smaller files for weights that
/// compress (zeros, repeated values, few distinct values); trained weights
/// in `f64` shrink little, and saving and loading take longer.
///
/// ```
/// use autograd_nn::{Linear, Module, Sequential, load_params, save_params_compressed};
/// use ndarray::{Array1, Array2};
///
/// let model = Sequential::new()
///     .push(Linear::from_arrays(Array2::zeros((100, 10)), Array1::zeros(10))?);
/// let path = std::env::temp_dir().join(format!("autograd-nn-doc-z-{}.npz", std::process::id()));
/// save_params_compressed(&model, &path)?;
/// let size = std::fs::metadata(&path).map_or(0, |m| m.len());
/// assert!(size > 0 && size < 1000, "8,080 bytes of zeros in {size}");
/// load_params(&model, &path)?;
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), autograd_nn::Error>(())
/// ```
///
/// # Errors
/// As [`save_params`].
pub fn save_params_compressed<S, M, P>(module: &M, path: P) -> Result<()>
where
    S: Strategy,
    M: Module<S> + ?Sized,
    P: AsRef<Path>,
{
    save(module, path.as_ref(), true)
}

/// Reads every parameter of `module` from the `.npz` file at `path`, by
/// name, into the parameter's value. All or nothing: the names, every
/// array's element type and shape and every parameter's leafness are
/// checked before any parameter changes. The file's arrays may be stored or
/// deflated: `np.savez`'s, `np.savez_compressed`'s (DeZero's
/// `save_weights`), [`save_params`]' and [`save_params_compressed`]'.
///
/// Strict, as PyTorch's `load_state_dict(strict=True)`: the file must hold
/// an array for every parameter and no array that no parameter claims.
/// [`load_params_lenient`] ignores such arrays (and says which).
///
/// A parameter that `named_params` lists at several places (a weight that
/// two layers share) is set once, from the array under the first name it
/// gives it; an array under one of its later names is claimed by it, and
/// not read.
///
/// A damaged or hostile file is an error, never an abort: every size the
/// file states (the zip archive's offsets and member sizes, each array's
/// header and shape) is checked against the bytes the file has before
/// anything is allocated for it.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::NpzFormat`] when it
/// is not an `.npz` file this reads, [`Error::ClaimedSize`] for a size in
/// it larger than the file holds, [`Error::MissingParam`] for a parameter
/// the file has no array for, [`Error::UnexpectedArrays`] for arrays that
/// no parameter claims, [`Error::ParamShape`] for an array of another shape
/// than its parameter, [`Error::ParamArray`] for an array that is not
/// `f64`; each names the file and the array. [`Error::ParamNotLeaf`] for a
/// parameter that a function computed and [`Error::DuplicateName`] for a
/// name given to two different parameters, checked first. No parameter
/// changes on any error.
pub fn load_params<S, M, P>(module: &M, path: P) -> Result<()>
where
    S: Strategy,
    M: Module<S> + ?Sized,
    P: AsRef<Path>,
{
    load(module, path.as_ref(), true).map(drop)
}

/// [`load_params`] that ignores the file's arrays that no parameter claims
/// (PyTorch's `load_state_dict(strict=False)`, but every parameter still
/// needs its array): for a file that holds more than the module, such as a
/// whole model's parameters loaded into its first layers. Returns the
/// names of the arrays it ignored, in the file's order, so that nothing is
/// ignored silently.
///
/// ```
/// use autograd_nn::{Error, Linear, Module, Sequential, load_params, load_params_lenient, save_params};
/// use ndarray::{Array1, Array2};
///
/// let layer = || Linear::from_arrays(Array2::eye(2), Array1::zeros(2));
/// let two = Sequential::new().push(layer()?).push(layer()?);
/// let path = std::env::temp_dir().join(format!("autograd-nn-doc-lenient-{}.npz", std::process::id()));
/// save_params(&two, &path)?;
/// let one = Sequential::new().push(layer()?);
/// let err = load_params(&one, &path).unwrap_err();
/// assert!(matches!(&err, Error::UnexpectedArrays { names, .. } if names == &["l1/W", "l1/b"]));
/// assert_eq!(load_params_lenient(&one, &path)?, ["l1/W", "l1/b"]);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), autograd_nn::Error>(())
/// ```
///
/// # Errors
/// As [`load_params`], but for [`Error::UnexpectedArrays`].
pub fn load_params_lenient<S, M, P>(module: &M, path: P) -> Result<Vec<String>>
where
    S: Strategy,
    M: Module<S> + ?Sized,
    P: AsRef<Path>,
{
    load(module, path.as_ref(), false)
}

/// One parameter of a module as a file holds it: once, under the first
/// name [`Module::named_params`] gives it.
struct Entry<S: Strategy> {
    name: String,
    /// The names of its later places (a weight two layers share).
    aliases: Vec<String>,
    param: Variable<S>,
}

/// The module's distinct parameters (by [`Variable::ptr_eq`]), in order.
///
/// # Errors
/// [`Error::DuplicateName`] when one name is given to two different
/// parameters (one parameter listed twice under one name is one entry).
fn entries<S: Strategy, M: Module<S> + ?Sized>(module: &M) -> Result<Vec<Entry<S>>> {
    let mut entries: Vec<Entry<S>> = Vec::new();
    // Each name's entry.
    let mut owners: HashMap<String, usize> = HashMap::new();
    for (name, param) in module.named_params() {
        let index = match entries.iter().position(|e| e.param.ptr_eq(&param)) {
            Some(index) => index,
            None => {
                entries.push(Entry {
                    name: name.clone(),
                    aliases: Vec::new(),
                    param,
                });
                entries.len() - 1
            }
        };
        match owners.get(&name) {
            Some(&owner) if owner != index => return Err(Error::DuplicateName { name }),
            Some(_) => {}
            None => {
                if entries[index].name != name {
                    entries[index].aliases.push(name.clone());
                }
                owners.insert(name, index);
            }
        }
    }
    Ok(entries)
}

/// [`save_params`], its arrays deflated when `deflate`.
fn save<S: Strategy, M: Module<S> + ?Sized>(module: &M, path: &Path, deflate: bool) -> Result<()> {
    let entries = entries(module)?;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let mut npz = npz::Writer::new(BufWriter::new(file), deflate);
    for Entry { name, param, .. } in &entries {
        let array = npy::encode(param.data().view());
        npz.add(&format!("{name}.npy"), &array).map_err(io)?;
    }
    npz.finish().map_err(io)?;
    Ok(())
}

/// [`load_params`], refusing unclaimed arrays when `strict`; the names of
/// the arrays it ignored.
fn load<S: Strategy, M: Module<S> + ?Sized>(
    module: &M,
    path: &Path,
    strict: bool,
) -> Result<Vec<String>> {
    let entries = entries(module)?;
    // `Variable::update_data` writes a leaf born one (`is_settable`), not
    // an op's output, unchained since or not: checked for every parameter
    // before anything is read or written.
    if let Some(entry) = entries.iter().find(|e| !e.param.is_settable()) {
        return Err(Error::ParamNotLeaf {
            name: entry.name.clone(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let archive = npz::Archive::parse(&bytes, path)?;
    // numpy.load's keys: the member names without `.npy`, in the file's order.
    let mut keys = Vec::with_capacity(archive.members().len());
    let mut members = HashMap::new();
    for member in archive.members() {
        let key = member.name.strip_suffix(".npy").unwrap_or(&member.name);
        if members.insert(key, member).is_some() {
            return Err(Error::NpzFormat {
                path: path.to_path_buf(),
                reason: format!("two members hold the array {key:?}"),
            });
        }
        keys.push(key);
    }
    // Names first, so that a file for another model fails before any
    // array is inflated.
    let mut found = Vec::with_capacity(entries.len());
    for entry in &entries {
        match members.get(entry.name.as_str()) {
            Some(&member) => found.push(member),
            None => {
                return Err(Error::MissingParam {
                    path: path.to_path_buf(),
                    name: entry.name.clone(),
                });
            }
        }
    }
    let claimed: HashSet<&str> = entries
        .iter()
        .flat_map(|e| std::iter::once(&e.name).chain(&e.aliases))
        .map(String::as_str)
        .collect();
    let unclaimed: Vec<String> = keys
        .into_iter()
        .filter(|key| !claimed.contains(key))
        .map(str::to_owned)
        .collect();
    if strict && !unclaimed.is_empty() {
        return Err(Error::UnexpectedArrays {
            path: path.to_path_buf(),
            names: unclaimed,
        });
    }
    let mut arrays: Vec<ArrayD<f64>> = Vec::with_capacity(entries.len());
    for (Entry { name, param, .. }, member) in entries.iter().zip(found) {
        let array = npy::decode(&archive.read(member)?, path, name)?;
        let expected = param.shape();
        if array.shape() != expected.as_slice() {
            return Err(Error::ParamShape {
                path: path.to_path_buf(),
                name: name.clone(),
                expected,
                got: array.shape().to_vec(),
            });
        }
        arrays.push(array);
    }
    for (entry, array) in entries.iter().zip(&arrays) {
        entry.param.update_data(|mut value| value.assign(array))?;
    }
    Ok(unclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Linear, Mlp};
    use autograd_core::{RcWeak, Variable};
    use ndarray::{Array1, Array2};

    /// Writes an `.npz` file of these members (names with `.npy`), stored.
    fn write_npz(path: &Path, members: &[(&str, &[u8])]) {
        let mut npz = npz::Writer::new(File::create(path).unwrap(), false);
        for (name, data) in members {
            npz.add(name, data).unwrap();
        }
        npz.finish().unwrap();
    }

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("autograd-nn-{}-{name}.npz", std::process::id()))
    }

    fn mlp(seed: u64) -> Mlp<RcWeak> {
        Mlp::new_in(&[3, 4, 2], Activation::Relu, seed).unwrap()
    }

    fn values(m: &Mlp<RcWeak>) -> Vec<ndarray::ArrayD<f64>> {
        m.params().iter().map(|p| p.data().to_owned()).collect()
    }

    #[test]
    fn saved_parameters_load_back_bit_for_bit() {
        let path = temp("roundtrip");
        let (saved, loaded) = (mlp(1), mlp(2));
        assert_ne!(values(&saved), values(&loaded));
        save_params(&saved, &path).unwrap();
        load_params(&loaded, &path).unwrap();
        assert_eq!(values(&saved), values(&loaded));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_missing_name_a_shape_or_an_element_type_is_an_error_naming_the_parameter() {
        // A file with l0/W and l0/b only.
        let path = temp("missing");
        let layer =
            Linear::<RcWeak>::from_arrays_in(Array2::zeros((3, 4)), Array1::zeros(4)).unwrap();
        save_params(&crate::Sequential::new_in().push(layer), &path).unwrap();
        let model = mlp(3);
        let before = values(&model);
        let err = load_params(&model, &path).unwrap_err();
        assert!(
            matches!(&err, Error::MissingParam { name, .. } if name == "l1/W"),
            "{err}"
        );
        assert_eq!(values(&model), before, "nothing changed, l0 included");

        // l1/W of another shape.
        let wide = Mlp::<RcWeak>::from_layers(
            vec![
                Linear::from_arrays_in(Array2::zeros((3, 4)), Array1::zeros(4)).unwrap(),
                Linear::from_arrays_in(Array2::zeros((4, 5)), Array1::zeros(5)).unwrap(),
            ],
            Activation::Relu,
        )
        .unwrap();
        save_params(&wide, &path).unwrap();
        let err = load_params(&model, &path).unwrap_err();
        assert!(
            matches!(&err, Error::ParamShape { name, expected, got, .. }
                if name == "l1/W" && expected == &[4, 2] && got == &[4, 5]),
            "{err}"
        );
        assert_eq!(values(&model), before);

        // An f32 array under a parameter's name.
        let f32_array = npy::with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }\n",
            &1.0f32.to_le_bytes(),
        );
        let zeros = |shape: &[usize]| npy::encode(ndarray::ArrayD::zeros(shape).view());
        let (b0, w1, b1) = (zeros(&[4]), zeros(&[4, 2]), zeros(&[2]));
        write_npz(
            &path,
            &[
                ("l0/W.npy", &f32_array),
                ("l0/b.npy", &b0),
                ("l1/W.npy", &w1),
                ("l1/b.npy", &b1),
            ],
        );
        let err = load_params(&model, &path).unwrap_err();
        assert!(
            matches!(&err, Error::ParamArray { name, .. } if name == "l0/W"),
            "{err}"
        );
        assert!(err.to_string().contains("l0/W"));
        assert_eq!(values(&model), before);

        let err = load_params(&model, temp("nowhere")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn paths_are_anything_that_is_a_path_and_unclaimed_arrays_fail_unless_lenient() {
        let path = temp("unclaimed");
        let as_str: &str = path.to_str().unwrap();
        let (saved, loaded) = (mlp(7), zeros(&[3, 4]));
        save_params(&saved, as_str).unwrap();
        save_params_compressed(&saved, String::from(as_str)).unwrap();
        // l1/W and l1/b belong to no parameter of a one-layer model.
        let err = load_params(&loaded, as_str).unwrap_err();
        assert!(
            matches!(&err, Error::UnexpectedArrays { names, .. } if names == &["l1/W", "l1/b"]),
            "{err}"
        );
        assert!(err.to_string().contains("load_params_lenient"), "{err}");
        assert_eq!(values(&loaded), values(&zeros(&[3, 4])), "nothing changed");
        let ignored = load_params_lenient(&loaded, &path).unwrap();
        assert_eq!(ignored, ["l1/W", "l1/b"]);
        assert_eq!(values(&loaded), values(&saved)[..2]);
        // A file that fits is loaded with nothing ignored.
        save_params(&loaded, &path).unwrap();
        assert_eq!(
            load_params_lenient(&loaded, &path).unwrap(),
            Vec::<String>::new()
        );
        // The lenient form still needs every parameter's array.
        let err = load_params_lenient(&mlp(8), &path).unwrap_err();
        assert!(
            matches!(&err, Error::MissingParam { name, .. } if name == "l1/W"),
            "{err}"
        );
        std::fs::remove_file(path).unwrap();
    }

    /// An MLP of these widths whose parameters are all zero.
    fn zeros(sizes: &[usize]) -> Mlp<RcWeak> {
        let layers = sizes
            .windows(2)
            .map(|w| {
                Linear::from_arrays_in(Array2::zeros((w[0], w[1])), Array1::zeros(w[1])).unwrap()
            })
            .collect();
        Mlp::from_layers(layers, Activation::Relu).unwrap()
    }

    #[test]
    fn numpys_savez_and_savez_compressed_files_load() {
        let expected = [
            ndarray::array![[0.0, 0.125, 0.25], [0.375, 0.5, 0.625]].into_dyn(),
            ndarray::array![0.5, -1.0, 2.0].into_dyn(),
            ndarray::array![[1.0], [-2.0], [0.25]].into_dyn(),
            ndarray::array![3.0].into_dyn(),
        ];
        for file in ["savez.npz", "savez_compressed.npz"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/testdata")
                .join(file);
            let model = zeros(&[2, 3, 1]);
            load_params(&model, &path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(values(&model), expected, "{file}");
        }
    }

    #[test]
    fn compressed_files_load_back_bit_for_bit_and_compress() {
        let (plain, compressed) = (temp("plain"), temp("deflated"));
        let (saved, loaded) = (mlp(5), mlp(6));
        save_params_compressed(&saved, &compressed).unwrap();
        load_params(&loaded, &compressed).unwrap();
        assert_eq!(values(&saved), values(&loaded));
        // Zeros deflate to next to nothing, and load back as zeros.
        let zero = zeros(&[3, 4, 2]);
        save_params(&zero, &plain).unwrap();
        save_params_compressed(&zero, &compressed).unwrap();
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        let (plain_size, compressed_size) = (size(&plain), size(&compressed));
        assert!(
            compressed_size < plain_size * 3 / 4,
            "{compressed_size} {plain_size}"
        );
        load_params(&loaded, &compressed).unwrap();
        assert_eq!(values(&loaded), values(&zero));
        std::fs::remove_file(plain).unwrap();
        std::fs::remove_file(compressed).unwrap();
    }

    #[test]
    fn a_shape_larger_than_the_file_is_an_error_not_an_abort() {
        // A 700-byte file whose l0/W claims 2^59 elements (4 EiB): read
        // with a reader that allocates from the header, this aborts the
        // process; here the size is checked against the bytes first.
        let path = temp("claimed");
        let huge = npy::with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (576460752303423488,), }\n",
            &[0; 8],
        );
        let zeros = |shape: &[usize]| npy::encode(ndarray::ArrayD::zeros(shape).view());
        let (b0, w1, b1) = (zeros(&[4]), zeros(&[4, 2]), zeros(&[2]));
        write_npz(
            &path,
            &[
                ("l0/W.npy", &huge),
                ("l0/b.npy", &b0),
                ("l1/W.npy", &w1),
                ("l1/b.npy", &b1),
            ],
        );
        assert!(std::fs::metadata(&path).unwrap().len() < 1000);
        let model = mlp(4);
        let before = values(&model);
        let err = load_params(&model, &path).unwrap_err();
        assert!(
            matches!(&err, Error::ClaimedSize { part, claimed, available: 8, .. }
                if part.contains("\"l0/W\"") && *claimed == 1 << 62),
            "{err}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(values(&model), before);
        std::fs::remove_file(path).unwrap();
    }

    /// A leaf `a` and, second, `b` that a function computed from it.
    struct Computed {
        a: Variable<RcWeak>,
        b: Variable<RcWeak>,
    }

    impl Module<RcWeak> for Computed {
        fn forward(&self, x: &Variable<RcWeak>) -> Result<Variable<RcWeak>> {
            Ok(autograd_ops::add(x, &self.b)?)
        }
        fn named_params(&self) -> Vec<(String, Variable<RcWeak>)> {
            vec![
                ("a".to_owned(), self.a.clone()),
                ("b".to_owned(), self.b.clone()),
            ]
        }
    }

    #[test]
    fn a_parameter_that_is_not_a_leaf_fails_the_load_before_any_parameter_changes() {
        let path = temp("computed");
        let a = Variable::<RcWeak>::from_array(ndarray::array![1.0, 2.0]);
        let b = autograd_ops::mul(
            &a,
            &Variable::constant_from_array(ndarray::array![3.0, 3.0]),
        )
        .unwrap();
        let module = Computed {
            a: a.clone(),
            b: b.clone(),
        };
        save_params(&module, &path).unwrap();
        a.set_data(ndarray::array![5.0, 6.0]).unwrap();
        let err = load_params(&module, &path).unwrap_err();
        assert!(
            matches!(&err, Error::ParamNotLeaf { name } if name == "b"),
            "{err}"
        );
        assert_eq!(
            a.data(),
            ndarray::array![5.0, 6.0].into_dyn(),
            "a unchanged"
        );
        // Unchained, `b` is a leaf by `is_leaf` but its value stays its
        // creator's: still refused, still before `a` changes.
        b.unchain();
        assert!(b.is_leaf());
        let err = load_params(&module, &path).unwrap_err();
        assert!(
            matches!(&err, Error::ParamNotLeaf { name } if name == "b"),
            "{err}"
        );
        assert_eq!(a.data(), ndarray::array![5.0, 6.0].into_dyn());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn two_parameters_of_one_name_are_refused_before_writing() {
        /// Two layers' parameters, their names not prefixed.
        struct Unprefixed(Linear<RcWeak>, Linear<RcWeak>);
        impl Module<RcWeak> for Unprefixed {
            fn forward(&self, x: &Variable<RcWeak>) -> Result<Variable<RcWeak>> {
                self.1.forward(&self.0.forward(x)?)
            }
            fn named_params(&self) -> Vec<(String, Variable<RcWeak>)> {
                let mut p = self.0.named_params();
                p.extend(self.1.named_params());
                p
            }
        }
        let path = temp("twice");
        let layer = || Linear::from_arrays_in(Array2::zeros((1, 1)), Array1::zeros(1)).unwrap();
        let module = Unprefixed(layer(), layer());
        let err = save_params(&module, &path).unwrap_err();
        assert!(
            matches!(&err, Error::DuplicateName { name } if name == "W"),
            "{err}"
        );
        assert!(!path.exists());
        let err = load_params(&module, &path).unwrap_err();
        assert!(
            matches!(&err, Error::DuplicateName { name } if name == "W"),
            "{err}"
        );
    }

    /// `x · W + b`, with a weight that another layer may share.
    struct Tied {
        weight: Variable<RcWeak>,
        bias: Variable<RcWeak>,
    }

    impl Module<RcWeak> for Tied {
        fn forward(&self, x: &Variable<RcWeak>) -> Result<Variable<RcWeak>> {
            Ok(autograd_ops::linear(x, &self.weight, Some(&self.bias))?)
        }
        fn named_params(&self) -> Vec<(String, Variable<RcWeak>)> {
            vec![
                ("W".to_owned(), self.weight.clone()),
                ("b".to_owned(), self.bias.clone()),
            ]
        }
    }

    /// Two layers sharing one 2×2 weight of this value.
    fn tied(weight: ndarray::Array2<f64>) -> (crate::Sequential<RcWeak>, Variable<RcWeak>) {
        let weight = Variable::from_array(weight);
        let layer = |b: f64| Tied {
            weight: weight.clone(),
            bias: Variable::from_array(ndarray::array![b, b]),
        };
        let model = crate::Sequential::new_in()
            .push(layer(1.0))
            .push(layer(2.0));
        (model, weight)
    }

    #[test]
    fn a_shared_parameter_is_saved_once_under_its_first_name_and_loaded_once() {
        let path = temp("tied");
        let (saved, _) = tied(ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        save_params(&saved, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let archive = npz::Archive::parse(&bytes, &path).unwrap();
        let names: Vec<&str> = archive.members().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["l0/W.npy", "l0/b.npy", "l1/b.npy"]);

        let (loaded, weight) = tied(Array2::zeros((2, 2)));
        load_params(&loaded, &path).unwrap();
        assert_eq!(
            weight.data(),
            ndarray::array![[1.0, 2.0], [3.0, 4.0]].into_dyn()
        );
        assert_eq!(
            loaded.params()[2].data(),
            ndarray::array![2.0, 2.0].into_dyn()
        );

        // A file that holds the weight under both names (as torch's
        // state_dict lists it): set once, from the first name's array.
        let first = npy::encode(ndarray::array![[5.0, 5.0], [5.0, 5.0]].into_dyn().view());
        let second = npy::encode(ndarray::array![[9.0, 9.0], [9.0, 9.0]].into_dyn().view());
        let bias = npy::encode(ndarray::array![0.0, 0.0].into_dyn().view());
        write_npz(
            &path,
            &[
                ("l0/W.npy", &first),
                ("l0/b.npy", &bias),
                ("l1/W.npy", &second),
                ("l1/b.npy", &bias),
            ],
        );
        load_params(&loaded, &path).unwrap();
        assert_eq!(
            weight.data(),
            ndarray::array![[5.0, 5.0], [5.0, 5.0]].into_dyn()
        );
        std::fs::remove_file(path).unwrap();
    }
}
